-- «Переформулировать» after a safety refusal is free once per refused job: the free reservation names
-- the refused job, and the unique index lets only one reservation ever name it.
ALTER TABLE operations ADD COLUMN rephrase_of text REFERENCES operations (job_id);
CREATE UNIQUE INDEX operations_one_rephrase ON operations (rephrase_of) WHERE rephrase_of IS NOT NULL;
