"""Step 2 of data_create, the metadata stage: a database's tables, columns, keys, comments and
row counts (`metadata`, reflected in batched round trips by `reflection`), merged with a
descriptions file (`descriptions`), read end to end for one configured database (`catalog`),
and compared between two snapshots (`diff`)."""
