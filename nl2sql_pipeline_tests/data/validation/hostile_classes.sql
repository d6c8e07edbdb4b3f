-- Hostile statements by class (the read-only guarantee). Every one must be refused by the gate
-- (a rejection, or a syntax error from the gate itself) on every engine and role, leave tables,
-- sequences, large objects, roles, locks, server state and files unchanged, kill no session and
-- leak no planted secret. Placeholders: {secret_file} a readable file holding the secret,
-- {secret_schema} a schema (PostgreSQL) / database (MariaDB) outside the configured one holding
-- a `customers` table with the secret, {out_dir} a world-writable folder that must stay empty,
-- {U+XXXX} the character with that code point.
-- Cases are separated by lines holding only "----".
----
-- PostgreSQL Unicode-escaped identifiers hide function names
SELECT U&"pg_read_fil\0065"('{secret_file}')
----
SELECT U&"pg_read_fil\0065"('{secret_file}') AS u FROM (SELECT 1 AS u) x
----
SELECT u&"\0070g_read_file"('{secret_file}')
----
SELECT U&"!0070g_read_file" UESCAPE '!' ('{secret_file}')
----
SELECT U&"lo_\0065xport"(1, '{out_dir}/lo.txt')
----
SELECT U&"pg_terminat\0065_backend"(1)
----
SELECT U&"pg_reload_con\0066"()
----
SELECT * FROM U&"pg_shado\0077"
----
-- on: postgres
SELECT U&'\0041' AS a FROM (SELECT 1) AS x
----
-- on: postgres
SELECT U&  'x' AS a
----
-- MariaDB/MySQL comments that end differently for sqlglot and the server
-- on: mysql
SELECT 1 --{U+00A0} AS a, LOAD_FILE('{secret_file}') AS b FROM (SELECT 1 AS {U+00A0}) t
----
-- on: mysql
SELECT 1 --{U+3000} AS a, LOAD_FILE('{secret_file}') AS b
----
-- on: mysql
SELECT 1 --{U+2003}, LOAD_FILE('{secret_file}') AS b
----
-- on: mysql
SELECT 1 --{U+0085}, LOAD_FILE('{secret_file}') AS b
----
-- on: mysql
SELECT 1 --x, LOAD_FILE('{secret_file}') AS b
----
-- on: mysql
SELECT 1 --1, LOAD_FILE('{secret_file}') AS b
----
SELECT 1 /* /* */ , LOAD_FILE('{secret_file}') AS b /* */ -- */
----
SELECT 1 /*+ SET_VAR(max_execution_time=0) */ AS a
----
SELECT 1 AS a /*M!100000 , LOAD_FILE('{secret_file}') AS b */
----
-- whitespace and control characters the engines read differently
SELECT{U+00A0}LOAD_FILE('{secret_file}')
----
SELECT 1 AS a,{U+2028}LOAD_FILE('{secret_file}') AS b
----
SELECT 1{U+FF1B} DELETE FROM orders
----
SELECT 1 AS a{U+000B}, 2 AS b
----
SELECT 1 AS a{U+000C}, 2 AS b
----
-- on: postgres
SELECT 1 -- x{U+000D}, pg_read_file('{secret_file}') AS b
----
SELECT x$$, pg_read_file('{secret_file}') AS b --$$ FROM (SELECT 1 AS x) q
----
-- on: postgres
SELECT $1
----
-- built-ins a blocklist missed: SQL strings, dumps, server state, files, other servers
SELECT query_to_xml_and_xmlschema('select * from orders', true, true, '')
----
SELECT * FROM ts_stat('select to_tsvector(''a'')')
----
SELECT ts_rewrite(to_tsquery('a'), 'select ''a''::tsquery, ''b''::tsquery')
----
SELECT table_to_xml('{secret_schema}.customers', true, true, '')
----
SELECT schema_to_xml('{secret_schema}', true, true, '')
----
SELECT database_to_xml(true, true, '')
----
SELECT pg_create_physical_replication_slot('nl2sql_evil_slot')
----
SELECT pg_drop_replication_slot('nl2sql_evil_slot')
----
SELECT pg_stat_reset()
----
SELECT pg_stat_reset_shared('bgwriter')
----
SELECT pg_backup_start('x')
----
SELECT pg_file_write('{out_dir}/evil.txt', 'x', false)
----
SELECT dblink_connect_u('dbname=postgres')
----
SELECT dblink_open('c', 'SELECT 1; INSERT INTO stores (store_id, store_name) VALUES (996, ''x'')')
----
SELECT PG_READ_FILE('{secret_file}')
----
SELECT "pg_read_file"('{secret_file}')
----
SELECT pg_catalog.pg_read_file('{secret_file}')
----
SELECT pg_catalog.upper('x') AS a
----
SELECT CAST(pg_read_file('{secret_file}') AS int)
----
SELECT pg_terminate_backend(pid) FROM (SELECT 1 AS pid) AS x
----
SELECT pg_cancel_backend(1)
----
SELECT pg_try_advisory_lock(42)
----
SELECT pg_advisory_lock_shared(42)
----
SELECT current_setting('data_directory')
----
SELECT version()
----
SELECT current_user
----
-- on: postgres
SELECT session_user AS s FROM stores
----
SELECT txid_current()
----
SELECT pg_sleep(10)
----
SELECT lo_from_bytea(0, 'x')
----
SELECT store_name FROM stores OPERATOR(pg_catalog.=) 1
----
SELECT 1 AS a WHERE 1 OPERATOR(pg_catalog.=) 1
----
SELECT EXTRACTVALUE(1, CONCAT(0x7e, LOAD_FILE('{secret_file}')))
----
SELECT UPDATEXML(1, CONCAT(0x7e, (SELECT customer_name FROM customers LIMIT 1)), 1)
----
SELECT `load_file`('{secret_file}')
----
SELECT load_file(0x2f6574632f706173737764)
----
SELECT BENCHMARK(100000000, MD5('a'))
----
SELECT SLEEP(10)
----
SELECT GET_LOCK('nl2sql_probe', 1)
----
SELECT IS_USED_LOCK('nl2sql_probe')
----
SELECT MASTER_POS_WAIT('x', 1)
----
SELECT @@datadir
----
SELECT @@global.secure_file_priv AS p
----
SELECT @x := 1
----
SELECT @x
----
SELECT customer_name FROM customers WHERE customer_id = @x
----
SELECT USER()
----
SELECT DATABASE()
----
SELECT NEXT VALUE FOR nl2sql_seq
----
SELECT load_extension('{out_dir}/evil.so')
----
SELECT readfile('{secret_file}')
----
SELECT writefile('{out_dir}/evil.txt', 'x')
----
SELECT sqlite_version()
----
SELECT * FROM pragma_table_info('orders')
----
SELECT * FROM generate_series(1, 3) AS g, pg_ls_dir('/') AS d
----
-- tables outside the configured schema, system catalogs, excluded tables
SELECT * FROM pg_authid
----
SELECT rolname, rolpassword FROM pg_catalog.pg_authid
----
SELECT * FROM pg_shadow
----
SELECT query FROM pg_stat_activity
----
SELECT * FROM pg_user
----
SELECT * FROM information_schema.tables
----
SELECT * FROM INFORMATION_SCHEMA.COLUMNS
----
SELECT * FROM {secret_schema}.customers
----
SELECT * FROM "{secret_schema}".customers
----
SELECT * FROM `{secret_schema}`.customers
----
SELECT * FROM postgres.{secret_schema}.customers
----
SELECT c.* FROM customers AS c JOIN {secret_schema}.customers AS s ON s.customer_id = c.customer_id
----
SELECT * FROM mysql.user
----
SELECT user, password FROM mysql.user
----
SELECT * FROM information_schema.processlist
----
SELECT * FROM performance_schema.threads
----
SELECT * FROM sys.processlist
----
SELECT * FROM sqlite_master
----
SELECT * FROM main.sqlite_master
----
SELECT sql FROM sqlite_schema
----
SELECT * FROM temp.sqlite_master
----
SELECT * FROM secret_customers
----
SELECT * FROM SECRET_CUSTOMERS
----
SELECT * FROM (SELECT * FROM secret_customers) AS s
----
WITH pg_shadow AS (SELECT * FROM pg_shadow) SELECT * FROM pg_shadow
----
WITH x AS (SELECT 1 AS a) SELECT * FROM (WITH pg_authid AS (SELECT 1 AS a) SELECT a FROM pg_authid) AS q, pg_authid
----
WITH s AS (SELECT * FROM secret_customers) SELECT * FROM s
----
WITH a AS (SELECT * FROM b), b AS (SELECT * FROM secret_customers) SELECT * FROM a
----
SELECT (SELECT count(*) FROM secret_customers) AS n
----
SELECT * FROM customers WHERE customer_id IN (SELECT customer_id FROM secret_customers)
----
TABLE pg_authid
----
TABLE secret_customers
