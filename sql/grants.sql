-- The privileges of the role the module connects as (govsvc_postgres), run
-- by the database's owner after every migration:
--
--   psql -v app=govsvc_app -d "CONNINFO AS THE OWNER" -f grants.sql
--
-- The module's role owns nothing: it reads and writes rows, runs the
-- govsvc_* functions and takes sequence numbers; it cannot change the
-- schema, disable a trigger, or alter or remove an audit entry (the audit
-- log is append-only for it; migrations are the owner's).

GRANT USAGE ON SCHEMA public TO :"app";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public
    TO :"app";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app";
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO :"app";

REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM :"app";
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM :"app";
