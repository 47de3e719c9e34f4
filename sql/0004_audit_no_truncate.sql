-- TRUNCATE bypasses row and statement triggers on UPDATE and DELETE: the
-- audit log refuses it too.

CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION govsvc_audit_refuse();
