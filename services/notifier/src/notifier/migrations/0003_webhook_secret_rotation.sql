-- A rotated signing secret keeps signing beside the new one until `previous_secret_expires_at`, so receivers can
-- switch to the new secret without dropping a call.
ALTER TABLE webhook_endpoints
    ADD COLUMN previous_secret text,
    ADD COLUMN previous_secret_expires_at timestamptz,
    ADD CONSTRAINT webhook_endpoints_previous_secret_pair
        CHECK ((previous_secret IS NULL) = (previous_secret_expires_at IS NULL));
