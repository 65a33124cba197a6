-- Row-level security of reports by department exists on PostgreSQL only (see
-- migrations/postgres/2026120103_report_rls.sql); SQLite has none, and on it the
-- department isolation is the service's alone. This step keeps the versions of both
-- engines the same.
SELECT 1;
