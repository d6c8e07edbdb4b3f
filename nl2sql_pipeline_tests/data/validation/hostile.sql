-- Statements an untrusted generator (or model) might emit. Every one must be refused by the
-- read-only executor on SQLite, PostgreSQL and MariaDB, and leave every table unchanged.
-- Cases are separated by lines holding only "----"; "--" lines before a case are its comment.
----
DELETE FROM orders
----
DELETE FROM orders WHERE 1 = 1
----
UPDATE customers SET city = 'x'
----
UPDATE products SET unit_price = 0 WHERE product_id = 1
----
INSERT INTO stores (store_id, store_name) VALUES (999, 'x')
----
INSERT INTO stores SELECT * FROM stores
----
REPLACE INTO stores (store_id, store_name) VALUES (1, 'x')
----
INSERT OR REPLACE INTO stores (store_id, store_name) VALUES (1, 'x')
----
MERGE INTO stores USING stores s2 ON stores.store_id = s2.store_id WHEN MATCHED THEN DELETE
----
DROP TABLE payments
----
DROP TABLE IF EXISTS payments
----
DROP VIEW IF EXISTS v
----
DROP INDEX ix
----
DROP DATABASE test
----
DROP SCHEMA public CASCADE
----
TRUNCATE TABLE payments
----
TRUNCATE payments
----
CREATE TABLE evil (x INT)
----
CREATE TEMP TABLE evil (x INT)
----
CREATE TABLE evil AS SELECT * FROM customers
----
CREATE VIEW evil AS SELECT 1
----
CREATE INDEX ix ON orders (order_date)
----
CREATE TRIGGER t AFTER INSERT ON orders BEGIN DELETE FROM payments; END
----
CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE sql
----
CREATE ROLE evil
----
CREATE USER evil
----
CREATE EXTENSION dblink
----
ALTER TABLE orders ADD COLUMN x INT
----
ALTER TABLE orders RENAME TO o2
----
ALTER TABLE orders DROP COLUMN status
----
ALTER USER postgres WITH PASSWORD 'x'
----
ALTER ROLE postgres SET default_transaction_read_only = off
----
ALTER SYSTEM SET fsync = off
----
GRANT ALL ON orders TO PUBLIC
----
REVOKE SELECT ON orders FROM PUBLIC
----
SELECT 1; DELETE FROM orders
----
SELECT 1; COMMIT; DELETE FROM orders
----
SELECT 1; COMMIT; SET default_transaction_read_only = off; DELETE FROM orders
----
SELECT 1;
DELETE FROM orders;
----
SELECT * FROM orders; DROP TABLE payments
----
SELECT 1 ; ; DELETE FROM orders
----
COMMIT; DELETE FROM orders
----
ROLLBACK; DELETE FROM orders
----
END; DELETE FROM orders
----
BEGIN; DELETE FROM orders; COMMIT
----
BEGIN
----
BEGIN TRANSACTION
----
START TRANSACTION
----
START TRANSACTION READ WRITE
----
COMMIT
----
ROLLBACK
----
SAVEPOINT s
----
RELEASE SAVEPOINT s
----
SET TRANSACTION READ WRITE
----
SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE
----
SET default_transaction_read_only = off
----
SET statement_timeout = 0
----
SET max_statement_time = 0
----
SET ROLE postgres
----
SET SESSION AUTHORIZATION postgres
----
RESET ROLE
----
SET GLOBAL read_only = 0
----
SET @x = 1
----
SELECT 1 /* harmless */; DELETE FROM orders
----
SELECT 1 -- comment
; DELETE FROM orders
----
/* leading comment */ DELETE FROM orders
----
-- a comment line
DELETE FROM orders
----
SELECT 1 /*!50000 ; DELETE FROM orders */
----
SELECT 1 /*! INTO OUTFILE '/tmp/nl2sql_evil.txt' */
----
SELECT 1 /*M! ; DELETE FROM orders */
----
SELECT * FROM orders /*! UNION SELECT * FROM orders INTO OUTFILE '/tmp/nl2sql_evil2.txt' */
----
WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d
----
WITH u AS (UPDATE customers SET city = 'x' RETURNING *) SELECT count(*) FROM u
----
WITH i AS (INSERT INTO stores (store_id, store_name) VALUES (998, 'x') RETURNING *) SELECT * FROM i
----
SELECT * INTO evil FROM customers
----
SELECT * INTO TEMP evil FROM customers
----
SELECT * FROM customers INTO OUTFILE '/tmp/nl2sql_evil3.txt'
----
SELECT * FROM customers INTO DUMPFILE '/tmp/nl2sql_evil4.txt'
----
SELECT customer_name INTO @v FROM customers LIMIT 1
----
SELECT * FROM orders FOR UPDATE
----
SELECT * FROM orders FOR SHARE
----
SELECT * FROM orders LOCK IN SHARE MODE
----
ATTACH DATABASE '/tmp/nl2sql_evil.db' AS evil
----
ATTACH '/tmp/nl2sql_evil.db' AS evil
----
ATTACH 'file:/tmp/nl2sql_evil.db?mode=rwc' AS evil
----
DETACH DATABASE main
----
PRAGMA query_only = 0
----
PRAGMA query_only = OFF
----
PRAGMA writable_schema = 1
----
PRAGMA journal_mode = DELETE
----
PRAGMA user_version = 42
----
PRAGMA foreign_keys = OFF
----
VACUUM
----
VACUUM INTO '/tmp/nl2sql_evil_vacuum.db'
----
REINDEX
----
ANALYZE
----
SELECT load_extension('/tmp/evil.so')
----
SELECT load_extension('mod_spatialite')
----
SELECT writefile('/tmp/nl2sql_evil.txt', 'x')
----
SELECT readfile('/etc/passwd')
----
COPY orders TO '/tmp/nl2sql_evil.csv'
----
COPY orders FROM '/tmp/nl2sql_evil.csv'
----
COPY (SELECT * FROM orders) TO PROGRAM 'touch /tmp/nl2sql_evil_prog'
----
SELECT pg_read_file('/etc/passwd')
----
SELECT lo_import('/etc/passwd')
----
SELECT lo_export(1, '/tmp/nl2sql_evil.txt')
----
SELECT pg_terminate_backend(pg_backend_pid())
----
SELECT pg_cancel_backend(1)
----
SELECT pg_reload_conf()
----
SELECT set_config('default_transaction_read_only', 'off', false)
----
SELECT pg_advisory_lock(1)
----
SELECT nextval('some_seq')
----
SELECT * FROM dblink('dbname=test', 'delete from orders') AS t(x int)
----
SELECT LOAD_FILE('/etc/passwd')
----
SELECT GET_LOCK('x', 10)
----
LOAD DATA INFILE '/etc/passwd' INTO TABLE customers
----
HANDLER orders OPEN
----
LOCK TABLES orders WRITE
----
LOCK TABLE orders IN ACCESS EXCLUSIVE MODE
----
UNLOCK TABLES
----
FLUSH TABLES
----
KILL 1
----
SHUTDOWN
----
CALL some_procedure()
----
DO 1
----
DO $$ BEGIN DELETE FROM orders; END $$
----
EXECUTE some_statement
----
PREPARE p AS DELETE FROM orders
----
DEALLOCATE ALL
----
DECLARE c CURSOR FOR SELECT 1
----
LISTEN x
----
NOTIFY x
----
CHECKPOINT
----
DISCARD ALL
----
REFRESH MATERIALIZED VIEW mv
----
CLUSTER orders
----
COMMENT ON TABLE orders IS 'x'
----
SECURITY LABEL ON TABLE orders IS 'x'
----
USE mysql
----
INSTALL PLUGIN x SONAME 'x.so'
----
RENAME TABLE orders TO o2
----
OPTIMIZE TABLE orders
----
REPAIR TABLE orders
----
