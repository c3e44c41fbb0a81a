CREATE TABLE "subscriptions" (
	"id" text PRIMARY KEY NOT NULL,
	"stream" text NOT NULL,
	"group_name" text NOT NULL,
	"config" jsonb NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "subscriptions_stream_group_idx" ON "subscriptions" USING btree ("stream","group_name");