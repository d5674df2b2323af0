package report

// css is the page's only style sheet (inline: the page fetches nothing).
// Severity and phases are told apart by shape, pattern and text as well as
// colour; the print rules drop the navigation and keep diagrams whole.
const css = `
:root{--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--bg:#fff;--err:#b3261e;--warn:#9a6700;--info:#0b57d0;--ev:#b3261e}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg);margin:0 auto;max-width:1080px;padding:0 20px 40px}
header h1{margin:18px 0 4px;font-size:26px}
.inputs{color:var(--muted);margin:0 0 8px;word-break:break-all}
nav{position:sticky;top:0;background:var(--bg);border-bottom:1px solid var(--line);padding:6px 0;z-index:1}
nav a{margin-right:14px}
h2{border-bottom:2px solid var(--line);padding-bottom:4px;margin-top:32px}
h3{margin:22px 0 8px}
h4{margin:0 0 8px;font-size:15px;font-weight:600}
a{color:#0550ae}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 12px;min-width:180px;flex:1}
.card .k{font-size:12px;text-transform:uppercase;color:var(--muted);letter-spacing:.04em}
.card .v{font-size:15px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.sev{display:inline-block;font-weight:600;border:1px solid currentColor;border-radius:4px;padding:0 5px;font-size:12px;line-height:18px;white-space:nowrap}
.sev-error{color:var(--err)} .sev-warning{color:var(--warn)} .sev-info{color:var(--info)}
.count{font-weight:400;color:var(--muted);font-size:14px}
article.finding{border:1px solid var(--line);border-left-width:6px;border-radius:6px;padding:12px 14px;margin:14px 0;break-inside:avoid}
article.sev-error{border-left-color:var(--err);border-left-style:solid}
article.sev-warning{border-left-color:var(--warn);border-left-style:double}
article.sev-info{border-left-color:var(--info);border-left-style:dotted}
.rid{font-family:ui-monospace,Menlo,Consolas,monospace}
.frames{font-family:ui-monospace,Menlo,Consolas,monospace}
figure{margin:8px 0;overflow-x:auto}
figcaption{font-size:12px;color:var(--muted)}
.message{margin:8px 0 4px}
.hint{margin:4px 0;color:#1a4d2e}
.more{color:var(--muted);font-style:italic}
.ok{color:#1a7f37}
.warn{color:var(--err);font-weight:600}
.note{font-size:12px;color:var(--muted)}
.noevidence{color:var(--muted);font-style:italic}
details{margin:8px 0}
summary{cursor:pointer;color:#0550ae}
.segtable table{font-size:12px;font-family:ui-monospace,Menlo,Consolas,monospace}
.rulepage{border-top:1px solid var(--line);margin-top:18px}
.rulepage pre{background:#f6f8fa;padding:8px;overflow-x:auto;font-size:12px}
.url{color:var(--muted);font-size:12px;word-break:break-all}
code{background:#f6f8fa;padding:0 3px;border-radius:3px;font-size:13px}
footer{margin-top:40px;color:var(--muted);font-size:12px;border-top:1px solid var(--line);padding-top:8px}
svg{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;max-width:100%;height:auto}
svg text{fill:#1b1f24}
svg .colname{font-weight:700;font-size:13px}
svg .coladdr{font-size:11px;fill:#57606a}
svg .lifeline{stroke:#57606a;stroke-width:1.5}
svg .seg{stroke:#6e7781;stroke-width:1.3}
svg .seg.ack{stroke-dasharray:5 3}
svg .seg.ev{stroke:var(--ev);stroke-width:2.6}
svg .seg.rst{stroke-dasharray:2 2;stroke-width:2}
svg .head{fill:#57606a}
svg .halo{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
svg .seglabel{font-size:11px;fill:#424a53}
svg .evlabel{font-weight:700;fill:#8c1d18}
svg .msglabel{font-size:11.5px;font-weight:700;fill:#0b3d91}
svg .tick{font-size:10.5px;fill:#57606a;font-variant-numeric:tabular-nums}
svg .stall{stroke:none;opacity:.55}
svg .hatchbg{fill:#fde7c4}
svg .hatch{stroke:#e0a040;stroke-width:2}
svg .stalledge{stroke:#9a6700;stroke-width:1;stroke-dasharray:3 2}
svg .stalllabel{font-weight:700;font-size:12.5px;fill:#7a4f00}
svg .zig{fill:none;stroke:#57606a;stroke-width:1.3}
svg .gapbg{fill:#fff}
svg .breaklabel{font-size:10.5px;fill:#57606a;font-style:italic}
svg .elided{font-size:11px;fill:#57606a;font-style:italic}
svg .grid{stroke:#eaeef2;stroke-width:1}
svg .axis{stroke:#8c959f}
svg .rowlabel{font-size:11.5px}
svg .ph{stroke:#424a53;stroke-width:.6}
svg .ph-connect{fill:#c8e1ff}
svg .ph-send{fill:#1f6feb}
svg .ph-wait{fill:#ffffff}
svg .ph-recv{fill:#54aeff}
svg .attr{stroke:#9a6700;stroke-width:.6}
svg .attrlabel{font-size:10.5px;fill:#7a4f00}
svg .legend{font-size:11px;fill:#57606a}
svg .bar{fill:#8c959f}
svg .bar.hasf{fill:#57606a}
svg .bar.hl{fill:#b3261e;stroke:#1b1f24;stroke-width:1}
svg .twtail{stroke:#d0d7de;stroke-width:1}
svg .curve-open{fill:none;stroke:#1f6feb;stroke-width:1.6}
svg .curve-tw{fill:none;stroke:#9a6700;stroke-width:1.6;stroke-dasharray:5 3}
@media print{
 nav{display:none}
 body{max-width:none;padding:0;font-size:11pt}
 article.finding,figure,table{break-inside:avoid}
 a{color:inherit;text-decoration:none}
 *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
`
