// errand's table reader: an HTML table as a grid of cell texts exactly as shown, with
// colspans and rowspans expanded (a spanned cell's text repeats in every slot it covers)
// and the header row(s) told apart from the body.
(el) => {
  let t = el;
  if (t && t.tagName !== 'TABLE') t = t.closest('table') || t.querySelector('table');
  if (!t) {
    let best = null, size = 0;
    for (const c of document.querySelectorAll('table')) {
      const n = c.rows.length * (c.rows[0] ? c.rows[0].cells.length : 0);
      if (n > size) { size = n; best = c; }
    }
    t = best;
  }
  if (!t) return { error: 'there is no table on this page' };
  const text = (c) => (c.innerText || c.textContent || '').replace(/\s+/g, ' ').trim();
  const grid = [];
  const isHead = [];
  const pending = []; // column -> [text, rows left]
  for (const tr of t.rows) {
    const row = [];
    let col = 0;
    const fill = () => {
      while (pending[col] && pending[col][1] > 0) {
        row[col] = pending[col][0];
        pending[col][1]--;
        col++;
      }
    };
    fill();
    for (const cell of tr.cells) {
      fill();
      const v = text(cell);
      const cs = Math.max(1, Math.min(cell.colSpan || 1, 100));
      const rs = Math.max(1, Math.min(cell.rowSpan || 1, 1000));
      for (let k = 0; k < cs; k++) {
        row[col] = v;
        if (rs > 1) pending[col] = [v, rs - 1];
        col++;
      }
    }
    fill();
    for (let i = 0; i < row.length; i++) if (row[i] === undefined) row[i] = '';
    grid.push(row);
    isHead.push(tr.parentElement && tr.parentElement.tagName === 'THEAD' || (tr.cells.length > 0 && [...tr.cells].every((c) => c.tagName === 'TH')));
  }
  const width = Math.max(0, ...grid.map((r) => r.length));
  for (const r of grid) while (r.length < width) r.push('');
  let h = 0;
  while (h < grid.length && isHead[h]) h++;
  // A table without header cells has no header (h = 0); one made only of header cells
  // keeps its first row as the header.
  if (h === grid.length) h = Math.min(1, grid.length);
  // Stacked header rows (a group spanning its sub-columns) read as one: "Price (EUR) from".
  const header = [];
  for (let c = 0; c < width && h > 0; c++) {
    const parts = [];
    for (let r = 0; r < h; r++) if (grid[r][c] && parts[parts.length - 1] !== grid[r][c]) parts.push(grid[r][c]);
    header.push(parts.join(' '));
  }
  const cap = t.caption ? text(t.caption) : '';
  return { caption: cap, header, rows: grid.slice(h), columns: width };
}
