-- 运维脚本：绝不能执行
UPDATE staff SET salary = salary * 2 WHERE dept_id = 3;
CREATE TABLE tmp_report AS SELECT * FROM sales_order;
DELETE FROM order_line WHERE qty = 0;
BEGIN;
SELECT * FROM staff WHERE staff_id = 1; DROP TABLE customer;
