-- 运维脚本：绝不能执行
UPDATE staff SET salary = salary * 2 WHERE dept_id = 3;
CREATE TABLE tmp_report AS SELECT * FROM sales_order;
DELETE FROM order_line WHERE qty = 0;
BEGIN;
SELECT * FROM staff WHERE staff_id = 1; DROP TABLE customer;
-- 清理已取消订单（数据修改的 CTE）
WITH old AS (SELECT order_id FROM sales_order WHERE status = 4)
DELETE FROM order_line WHERE order_id IN (SELECT order_id FROM old);
SELECT * INTO backup_staff FROM staff;
