CREATE TABLE "instance_status_changes" (
	"change_id" text NOT NULL,
	"changed_at" timestamp with time zone NOT NULL,
	"instance_id" text NOT NULL,
	"service" text NOT NULL,
	"from_status" text,
	"to_status" text NOT NULL,
	"reason" text NOT NULL,
	"output" text,
	CONSTRAINT "instance_status_changes_change_id_changed_at_pk" PRIMARY KEY("change_id","changed_at")
);
--> statement-breakpoint
CREATE TABLE "service_instances" (
	"instance_id" text PRIMARY KEY NOT NULL,
	"service" text NOT NULL,
	"url" text,
	"binding" text,
	"version" text NOT NULL,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"status" text NOT NULL,
	"output" text,
	"ttl_seconds" integer NOT NULL,
	"deregister_after_seconds" integer NOT NULL,
	"registered_at" timestamp with time zone NOT NULL,
	"last_heartbeat_at" timestamp with time zone NOT NULL,
	"critical_since" timestamp with time zone,
	"deregistered_at" timestamp with time zone,
	"revision" bigint NOT NULL,
	"written_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "service_instances_status_check" CHECK ("service_instances"."status" in ('passing', 'warning', 'critical')),
	CONSTRAINT "service_instances_address_check" CHECK (("service_instances"."url" is null) <> ("service_instances"."binding" is null))
);
--> statement-breakpoint
CREATE INDEX "instance_status_changes_service_time_idx" ON "instance_status_changes" USING btree ("service","changed_at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "instance_status_changes_instance_time_idx" ON "instance_status_changes" USING btree ("instance_id","changed_at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "service_instances_service_idx" ON "service_instances" USING btree ("service","deregistered_at");