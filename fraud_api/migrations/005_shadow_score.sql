-- fraud-api schema v5: the shadow model's score beside the live decision (issue 14, shadow scoring).
--
-- A candidate version named by the registry's shadow pointer scores every transaction after the
-- live decision is made; its score and version are written in the same INSERT as the decision and
-- never read back by the service. NULL when no shadow was configured or the shadow failed.
-- Nullable columns without a default: adding them rewrites no row and takes the lock only briefly.

ALTER TABLE transactions
    ADD COLUMN IF NOT EXISTS shadow_score double precision CHECK (shadow_score >= 0 AND shadow_score <= 1),
    ADD COLUMN IF NOT EXISTS shadow_model_version text;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'shadow_complete') THEN
        ALTER TABLE transactions
            ADD CONSTRAINT shadow_complete CHECK ((shadow_score IS NULL) = (shadow_model_version IS NULL));
    END IF;
END
$$;
