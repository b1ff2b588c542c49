#!/bin/sh
# The roles of one service's database, made once when the server's volume is first
# initialised (the postgres image runs /docker-entrypoint-initdb.d/*.sh as POSTGRES_USER, the
# superuser): the owner, which owns the database and runs the migrations, and the app's own
# role, which logs in and nothing more. Its privileges come from the service's migrations.
# A managed PostgreSQL gets the same two roles from its operator, e.g.
#   MICRO_DB_OWNER=micro MICRO_DB_APP_ROLE=ledger_app ... PGHOST=... sh roles.sh
set -eu
psql -v ON_ERROR_STOP=1 -X --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v db="$POSTGRES_DB" \
    -v owner="$MICRO_DB_OWNER" -v owner_password="$MICRO_DB_OWNER_PASSWORD" \
    -v app_role="$MICRO_DB_APP_ROLE" -v app_password="$MICRO_DB_APP_PASSWORD" <<'SQL'
CREATE ROLE :"owner" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_password';
CREATE ROLE :"app_role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'app_password';
ALTER DATABASE :"db" OWNER TO :"owner";
SQL
