-- 销售分析（PostgreSQL 方言）
-- question: 2024年每个季度的已付款订单金额合计是多少？
SELECT date_trunc('quarter', order_date)::date AS quarter, SUM(amount) AS paid
FROM sales_order
WHERE status = 2 AND EXTRACT(YEAR FROM order_date) = 2024
GROUP BY 1
ORDER BY 1;

-- 已发货与已取消的订单数（FILTER 子句）
SELECT staff_id, COUNT(*) FILTER (WHERE status = 3) AS shipped, COUNT(*) FILTER (WHERE status = 4) AS cancelled
FROM sales_order GROUP BY staff_id;

/* 带参数的报表：BI 工具在运行时传入 $1 */
SELECT cust_name, city FROM customer WHERE level = $1 AND city = $2;

SELECT name FROM staff WHERE hire_date >= $1::date ORDER BY hire_date LIMIT $2;

SELECT $tag$不是语句的结束;$tag$ AS note, COUNT(*) FROM product;

SELECT p.product_name, SUM(l.qty) AS sold
FROM order_line l JOIN product p ON p.sku = l.sku
GROUP BY p.product_name
ORDER BY sold DESC
LIMIT 3;

SELECT EXTRACT(YEAR FROM hire_date), COUNT(*) FROM staff GROUP BY EXTRACT(YEAR FROM hire_date);

INSERT INTO product (sku, product_name, category, list_price) VALUES ('X1', '测试', '家具', 1);
TRUNCATE order_line;
