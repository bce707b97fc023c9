//! SVG output of the built-in layout: one `<g class="task">` per node (with
//! its key in `data-key`, so pages can link a click to the task), one
//! `<path class="edge">` per edge, a `<title>` tooltip per node.

use std::fmt::Write as _;

use super::layout::Layout;
use super::{escape_xml, GraphView};

pub(crate) fn render(g: &GraphView, l: &Layout) -> String {
    let mut s = String::with_capacity(200 * g.nodes.len() + 100 * g.edges.len() + 512);
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"rask-graph\" width=\"{w:.0}\" height=\"{h:.0}\" viewBox=\"0 0 {w:.0} {h:.0}\">\
<style>.edge{{fill:none;stroke:#999;stroke-width:1}}.node{{stroke:#555;stroke-width:.6}}\
text{{font:10px sans-serif;fill:#222;pointer-events:none}}</style>\
<defs><marker id=\"arrow\" viewBox=\"0 0 6 6\" refX=\"6\" refY=\"3\" markerWidth=\"6\" markerHeight=\"6\" orient=\"auto\">\
<path d=\"M0,0L6,3L0,6z\" fill=\"#999\"/></marker></defs>",
        w = l.width,
        h = l.height
    );
    for &(a, b) in &g.edges {
        let (a, b) = (a as usize, b as usize);
        if a == b || a >= l.boxes.len() || b >= l.boxes.len() {
            continue;
        }
        let (ax, ay, aw, ah) = l.boxes[a];
        let (bx, by, _, bh) = l.boxes[b];
        let (x1, y1) = (ax + aw, ay + ah / 2.0);
        let (x2, y2) = (bx, by + bh / 2.0);
        let mx = (x1 + x2) / 2.0;
        let _ = write!(
            s,
            "<path class=\"edge\" d=\"M{x1:.1},{y1:.1}C{mx:.1},{y1:.1} {mx:.1},{y2:.1} {x2:.1},{y2:.1}\" marker-end=\"url(#arrow)\"/>"
        );
    }
    for (i, n) in g.nodes.iter().enumerate() {
        let (x, y, w, h) = l.boxes[i];
        let key = escape_xml(&n.key);
        let state = n.state.map_or("", |s| s.name());
        let _ = write!(
            s,
            "<g class=\"task\" data-key=\"{key}\"><title>{key}{sep}{state}</title>\
<rect class=\"node\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" rx=\"4\" fill=\"{fill}\"/>\
<text x=\"{tx:.1}\" y=\"{ty:.1}\" text-anchor=\"middle\">{label}</text></g>",
            sep = if state.is_empty() { "" } else { ": " },
            fill = g.colour(i),
            tx = x + w / 2.0,
            ty = y + h / 2.0 + 3.5,
            label = escape_xml(&truncate(&n.key, 48)),
        );
    }
    s.push_str("</svg>");
    s
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}
