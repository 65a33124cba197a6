-- Row-level security by department (R-S1), PostgreSQL only: a session that names its
-- department (`SELECT set_config('warga.department', 'dinas-pu', true)` in its
-- transaction) sees and changes only that department's reports and what hangs on them; the
-- top office (`pemkot`) and a session that names none (the platform's own consumers and
-- jobs) see all. FORCE makes the tables' owner subject to the policies too (superusers are
-- never subject: run warga under a role that is not one).
CREATE FUNCTION warga_report_department_visible(department TEXT) RETURNS BOOLEAN
    LANGUAGE SQL STABLE AS $$
    SELECT COALESCE(current_setting('warga.department', true), '') IN ('', 'pemkot')
        OR department = current_setting('warga.department', true)
$$;

ALTER TABLE reports ENABLE ROW LEVEL SECURITY;
ALTER TABLE reports FORCE ROW LEVEL SECURITY;
CREATE POLICY reports_by_department ON reports
    USING (warga_report_department_visible(department));

ALTER TABLE report_officer_inbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE report_officer_inbox FORCE ROW LEVEL SECURITY;
CREATE POLICY report_officer_inbox_by_department ON report_officer_inbox
    USING (warga_report_department_visible(department));

ALTER TABLE report_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE report_events FORCE ROW LEVEL SECURITY;
CREATE POLICY report_events_by_department ON report_events
    USING (EXISTS (SELECT 1 FROM reports r WHERE r.id = report_events.report_id));

ALTER TABLE report_photos ENABLE ROW LEVEL SECURITY;
ALTER TABLE report_photos FORCE ROW LEVEL SECURITY;
CREATE POLICY report_photos_by_department ON report_photos
    USING (EXISTS (SELECT 1 FROM reports r WHERE r.id = report_photos.report_id));

ALTER TABLE report_timers ENABLE ROW LEVEL SECURITY;
ALTER TABLE report_timers FORCE ROW LEVEL SECURITY;
CREATE POLICY report_timers_by_department ON report_timers
    USING (EXISTS (SELECT 1 FROM reports r WHERE r.id = report_timers.report_id));
