//! A layered ("Sugiyama-style") layout, small and deterministic.
//!
//! 1. Layers: a node's layer is the longest path to it from a root
//!    (Kahn's algorithm; a cycle, possible only in collapsed graphs, is
//!    broken at its lowest-numbered node).
//! 2. Order within a layer: start in node order, then three down-and-up
//!    sweeps that sort each layer by the mean position of its neighbours
//!    in the layers already placed (the barycentre heuristic), which
//!    removes most crossings of tree-like graphs.
//! 3. Coordinates: layers left to right, each as wide as its widest label;
//!    nodes top to bottom, each layer centred.
//!
//! Everything is iterative and O((nodes + edges) log nodes) per sweep.

use super::GraphView;

/// Where each node goes.
pub(crate) struct Layout {
    /// Per node: x, y (top-left), width, height.
    pub(crate) boxes: Vec<(f64, f64, f64, f64)>,
    /// The drawing's size.
    pub(crate) width: f64,
    pub(crate) height: f64,
}

const NODE_H: f64 = 22.0;
const V_GAP: f64 = 8.0;
const H_GAP: f64 = 48.0;
const MARGIN: f64 = 10.0;

/// The width of a label's box.
pub(crate) fn label_width(label: &str) -> f64 {
    (label.chars().count() as f64 * 6.4 + 16.0).clamp(36.0, 320.0)
}

pub(crate) fn layout(g: &GraphView) -> Layout {
    let n = g.nodes.len();
    let mut preds: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut succs: Vec<Vec<u32>> = vec![Vec::new(); n];
    for &(a, b) in &g.edges {
        let (a, b) = (a as usize, b as usize);
        if a != b && a < n && b < n {
            preds[b].push(a as u32);
            succs[a].push(b as u32);
        }
    }
    // 1. Layers (Kahn; cycles broken at the lowest index).
    let mut indeg: Vec<usize> = preds.iter().map(Vec::len).collect();
    let mut layer = vec![0usize; n];
    let mut done = vec![false; n];
    let mut queue: std::collections::VecDeque<usize> = (0..n).filter(|&v| indeg[v] == 0).collect();
    let mut next_forced = 0;
    let mut placed = 0;
    while placed < n {
        let v = match queue.pop_front() {
            Some(v) => v,
            None => {
                while done[next_forced] {
                    next_forced += 1;
                }
                next_forced
            }
        };
        if done[v] {
            continue;
        }
        done[v] = true;
        placed += 1;
        layer[v] = preds[v]
            .iter()
            .filter(|&&u| done[u as usize])
            .map(|&u| layer[u as usize] + 1)
            .max()
            .unwrap_or(0);
        for &s in &succs[v] {
            let s = s as usize;
            if !done[s] {
                indeg[s] = indeg[s].saturating_sub(1);
                if indeg[s] == 0 {
                    queue.push_back(s);
                }
            }
        }
    }
    let layers_n = layer.iter().max().map_or(0, |m| m + 1);
    let mut layers: Vec<Vec<usize>> = vec![Vec::new(); layers_n];
    for v in 0..n {
        layers[layer[v]].push(v);
    }
    // 2. Order: barycentre sweeps.
    let mut pos = vec![0f64; n];
    let set_pos = |layers: &Vec<Vec<usize>>, pos: &mut Vec<f64>| {
        for l in layers {
            let len = l.len().max(1) as f64;
            for (i, &v) in l.iter().enumerate() {
                pos[v] = (i as f64 + 0.5) / len;
            }
        }
    };
    set_pos(&layers, &mut pos);
    for _ in 0..3 {
        for down in [true, false] {
            let order: Vec<usize> = if down {
                (1..layers_n).collect()
            } else {
                (0..layers_n.saturating_sub(1)).rev().collect()
            };
            for l in order {
                let nb = if down { &preds } else { &succs };
                let mut keyed: Vec<(f64, usize)> = layers[l]
                    .iter()
                    .map(|&v| {
                        let ns = &nb[v];
                        let b = if ns.is_empty() {
                            pos[v]
                        } else {
                            ns.iter().map(|&u| pos[u as usize]).sum::<f64>() / ns.len() as f64
                        };
                        (b, v)
                    })
                    .collect();
                keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                layers[l] = keyed.into_iter().map(|(_, v)| v).collect();
                let len = layers[l].len().max(1) as f64;
                for (i, &v) in layers[l].iter().enumerate() {
                    pos[v] = (i as f64 + 0.5) / len;
                }
            }
        }
    }
    // 3. Coordinates.
    let widths: Vec<f64> = g.nodes.iter().map(|nd| label_width(&nd.key)).collect();
    let tallest = layers.iter().map(Vec::len).max().unwrap_or(0) as f64;
    let height = tallest * (NODE_H + V_GAP) - V_GAP + 2.0 * MARGIN;
    let mut boxes = vec![(0.0, 0.0, 0.0, 0.0); n];
    let mut x = MARGIN;
    for l in &layers {
        let lw = l.iter().map(|&v| widths[v]).fold(0.0, f64::max);
        let lh = l.len() as f64 * (NODE_H + V_GAP) - V_GAP;
        let mut y = (height - lh) / 2.0;
        for &v in l {
            boxes[v] = (x + (lw - widths[v]) / 2.0, y, widths[v], NODE_H);
            y += NODE_H + V_GAP;
        }
        x += lw + H_GAP;
    }
    Layout {
        boxes,
        width: (x - H_GAP + MARGIN).max(2.0 * MARGIN),
        height: height.max(2.0 * MARGIN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::GraphNode;

    fn graph(n: usize, edges: &[(u32, u32)]) -> GraphView {
        GraphView {
            nodes: (0..n)
                .map(|i| GraphNode {
                    key: format!("t{i}"),
                    group: "t".into(),
                    state: None,
                })
                .collect(),
            edges: edges.to_vec(),
        }
    }

    #[test]
    fn every_edge_goes_left_to_right_in_an_acyclic_graph() {
        // A binary tree reduction of 8 leaves.
        let mut edges = Vec::new();
        let mut level: Vec<u32> = (0..8).collect();
        let mut next = 8;
        while level.len() > 1 {
            let mut up = Vec::new();
            for pair in level.chunks(2) {
                for &c in pair {
                    edges.push((c, next));
                }
                up.push(next);
                next += 1;
            }
            level = up;
        }
        let g = graph(next as usize, &edges);
        let l = layout(&g);
        for &(a, b) in &edges {
            assert!(l.boxes[a as usize].0 + l.boxes[a as usize].2 < l.boxes[b as usize].0);
        }
        // No two boxes overlap.
        for i in 0..l.boxes.len() {
            for j in i + 1..l.boxes.len() {
                let (a, b) = (l.boxes[i], l.boxes[j]);
                let apart =
                    a.0 + a.2 <= b.0 || b.0 + b.2 <= a.0 || a.1 + a.3 <= b.1 || b.1 + b.3 <= a.1;
                assert!(apart, "{i} and {j} overlap");
            }
        }
    }

    #[test]
    fn cycles_and_self_loops_still_get_a_layout() {
        let g = graph(3, &[(0, 1), (1, 2), (2, 0), (1, 1)]);
        let l = layout(&g);
        assert_eq!(l.boxes.len(), 3);
        assert!(l.width > 0.0 && l.height > 0.0);
        let empty = layout(&graph(0, &[]));
        assert!(empty.boxes.is_empty());
    }
}
