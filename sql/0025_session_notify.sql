-- What a worker's session cache (govsvc_session_cache) must forget, told
-- on the channel govsvc_auth by the transaction that changes it, at its
-- commit: "s:TOKEN_HASH" a session ended (logout, a new password, a
-- certificate unbound, purged), "u:USER_ID" a user changed (disabled,
-- roles, department, name, a certificate unbound), "*" a department
-- changed (every cached session may show its name or region).  A worker
-- whose LISTEN connection is down caches nothing, so what is missed
-- while it is down cannot matter.

CREATE FUNCTION govsvc_auth_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'sessions' THEN
        PERFORM pg_notify('govsvc_auth', 's:' || OLD.token_hash);
    ELSIF TG_TABLE_NAME = 'users' THEN
        PERFORM pg_notify('govsvc_auth', 'u:' || OLD.id);
    ELSIF TG_TABLE_NAME = 'user_certificates' THEN
        PERFORM pg_notify('govsvc_auth', 'u:' || OLD.user_id);
    ELSE
        PERFORM pg_notify('govsvc_auth', '*');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER sessions_auth_notify
    AFTER UPDATE OF revoked_at, expires_at OR DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION govsvc_auth_notify();

CREATE TRIGGER users_auth_notify
    AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION govsvc_auth_notify();

CREATE TRIGGER user_certificates_auth_notify
    AFTER UPDATE OR DELETE ON user_certificates
    FOR EACH ROW EXECUTE FUNCTION govsvc_auth_notify();

CREATE TRIGGER departments_auth_notify
    AFTER UPDATE OF name, region OR DELETE ON departments
    FOR EACH STATEMENT EXECUTE FUNCTION govsvc_auth_notify();
