CREATE TABLE "events" (
	"stream" text NOT NULL,
	"source" text NOT NULL,
	"event_id" text NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL,
	"type" text NOT NULL,
	"subject" text,
	"correlation_id" text,
	"stream_id" text NOT NULL,
	"stream_ms" bigint NOT NULL,
	"stream_seq" bigint NOT NULL,
	"event" jsonb NOT NULL,
	"archived_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "events_stream_source_event_id_occurred_at_pk" PRIMARY KEY("stream","source","event_id","occurred_at")
);
--> statement-breakpoint
CREATE INDEX "events_stream_position_idx" ON "events" USING btree ("stream","stream_ms","stream_seq");--> statement-breakpoint
CREATE INDEX "events_stream_subject_position_idx" ON "events" USING btree ("stream","subject","stream_ms","stream_seq");