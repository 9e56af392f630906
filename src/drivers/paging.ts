/**
 * Turns a "fetch the page after `last`" function into an async iterable. Drivers use it for
 * keyset pagination, so listing a session with 100k keys holds one page in memory at a time.
 */
export async function* pageThrough<Row, Out>(
  fetchPage: (last: Row | undefined) => Row[] | Promise<Row[]>,
  pageSize: number,
  map: (row: Row) => Out
): AsyncIterable<Out> {
  let last: Row | undefined
  for (;;) {
    const rows = await fetchPage(last)
    for (const row of rows) yield map(row)
    if (rows.length < pageSize) return
    last = rows[rows.length - 1]
  }
}
