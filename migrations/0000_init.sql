CREATE TABLE "health_checks" (
	"checked_at" timestamp with time zone DEFAULT now() NOT NULL,
	"target" text NOT NULL,
	"ok" boolean NOT NULL,
	"latency_ms" double precision NOT NULL,
	"detail" text
);
--> statement-breakpoint
CREATE INDEX "health_checks_target_time_idx" ON "health_checks" USING btree ("target","checked_at" DESC NULLS LAST);