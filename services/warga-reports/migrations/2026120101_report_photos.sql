-- A report's photos: re-encoded without metadata, sealed by the vault (the data key's id in
-- key_id, bound to "report:<id>:photo:<number>") and kept as a file named blob_key in the
-- photo store. `source`: 'reporter', or 'department' for a resolution's photo.
CREATE TABLE report_photos (
    report_id     TEXT   NOT NULL REFERENCES reports (id),
    number        BIGINT NOT NULL,
    blob_key      TEXT   NOT NULL UNIQUE,
    key_id        TEXT   NOT NULL,
    content_type  TEXT   NOT NULL,
    width         BIGINT NOT NULL,
    height        BIGINT NOT NULL,
    size_bytes    BIGINT NOT NULL,
    source        TEXT   NOT NULL,
    PRIMARY KEY (report_id, number)
);
