//! Squarified treemap layout (Bruls, Huizing, van Wijk): rectangles whose areas are
//! proportional to weights and whose aspect ratios stay close to 1, so small cells remain
//! visible and labelable. Used for the API-surface map: services, then endpoints inside.

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Rect {
    /// The rectangle shrunk by `d` on every side (never below zero size).
    pub fn inset(self, d: f64) -> Rect {
        Rect {
            x: self.x + d.min(self.w / 2.0),
            y: self.y + d.min(self.h / 2.0),
            w: (self.w - 2.0 * d).max(0.0),
            h: (self.h - 2.0 * d).max(0.0),
        }
    }
}

/// Lays `weights` out in `area`. Weights should be sorted in descending order for the best
/// aspect ratios; the result is in the same order as `weights`. Zero, negative and non-finite
/// weights get empty rectangles.
pub(crate) fn squarify(weights: &[f64], area: Rect) -> Vec<Rect> {
    let empty = Rect {
        x: area.x,
        y: area.y,
        w: 0.0,
        h: 0.0,
    };
    let mut out = vec![empty; weights.len()];
    let valid: Vec<usize> = (0..weights.len())
        .filter(|&i| weights[i].is_finite() && weights[i] > 0.0)
        .collect();
    let total: f64 = valid.iter().map(|&i| weights[i]).sum();
    if total <= 0.0 || area.w <= 0.0 || area.h <= 0.0 {
        return out;
    }
    let scale = area.w * area.h / total;
    let mut rest = area;
    let mut row: Vec<usize> = Vec::new();
    let mut row_sum = 0.0;
    for &i in &valid {
        let a = weights[i] * scale;
        let side = rest.w.min(rest.h);
        if row.is_empty()
            || worst(&row, row_sum + a, a, weights, scale, side)
                <= worst(&row, row_sum, 0.0, weights, scale, side)
        {
            row.push(i);
            row_sum += a;
        } else {
            rest = place(&row, row_sum, weights, scale, rest, &mut out);
            row.clear();
            row.push(i);
            row_sum = a;
        }
    }
    if !row.is_empty() {
        place(&row, row_sum, weights, scale, rest, &mut out);
    }
    out
}

/// The worst aspect ratio of `row` (plus an extra area `extra` when non-zero) laid along
/// a side of length `side`.
fn worst(row: &[usize], sum: f64, extra: f64, weights: &[f64], scale: f64, side: f64) -> f64 {
    let mut max = extra;
    let mut min = if extra > 0.0 { extra } else { f64::INFINITY };
    for &i in row {
        let a = weights[i] * scale;
        max = max.max(a);
        min = min.min(a);
    }
    if sum <= 0.0 || min <= 0.0 {
        return f64::INFINITY;
    }
    let s2 = side * side;
    let sum2 = sum * sum;
    (s2 * max / sum2).max(sum2 / (s2 * min))
}

/// Places a finished row along the shorter side of `rest` and returns what remains.
fn place(
    row: &[usize],
    sum: f64,
    weights: &[f64],
    scale: f64,
    rest: Rect,
    out: &mut [Rect],
) -> Rect {
    if rest.w >= rest.h {
        // A column on the left, full height.
        let cw = if rest.h > 0.0 { sum / rest.h } else { 0.0 };
        let mut y = rest.y;
        for &i in row {
            let h = if cw > 0.0 {
                weights[i] * scale / cw
            } else {
                0.0
            };
            out[i] = Rect {
                x: rest.x,
                y,
                w: cw,
                h,
            };
            y += h;
        }
        Rect {
            x: rest.x + cw,
            y: rest.y,
            w: (rest.w - cw).max(0.0),
            h: rest.h,
        }
    } else {
        // A row on top, full width.
        let rh = if rest.w > 0.0 { sum / rest.w } else { 0.0 };
        let mut x = rest.x;
        for &i in row {
            let w = if rh > 0.0 {
                weights[i] * scale / rh
            } else {
                0.0
            };
            out[i] = Rect {
                x,
                y: rest.y,
                w,
                h: rh,
            };
            x += w;
        }
        Rect {
            x: rest.x,
            y: rest.y + rh,
            w: rest.w,
            h: (rest.h - rh).max(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AREA: Rect = Rect {
        x: 10.0,
        y: 20.0,
        w: 600.0,
        h: 400.0,
    };

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6 * b.abs().max(1.0)
    }

    #[test]
    fn areas_are_proportional_and_fill_the_area_without_overlap() {
        let w = [6.0, 6.0, 4.0, 3.0, 2.0, 2.0, 1.0];
        let rects = squarify(&w, AREA);
        let total: f64 = w.iter().sum();
        for (r, wi) in rects.iter().zip(w) {
            assert!(
                close(r.w * r.h, AREA.w * AREA.h * wi / total),
                "{r:?} for {wi}"
            );
            assert!(r.x >= AREA.x - 1e-9 && r.y >= AREA.y - 1e-9);
            assert!(r.x + r.w <= AREA.x + AREA.w + 1e-6);
            assert!(r.y + r.h <= AREA.y + AREA.h + 1e-6);
        }
        for (i, a) in rects.iter().enumerate() {
            for b in &rects[i + 1..] {
                let ox = (a.x + a.w).min(b.x + b.w) - a.x.max(b.x);
                let oy = (a.y + a.h).min(b.y + b.h) - a.y.max(b.y);
                assert!(ox <= 1e-6 || oy <= 1e-6, "{a:?} overlaps {b:?}");
            }
        }
    }

    #[test]
    fn aspect_ratios_stay_reasonable_for_many_equal_cells() {
        let w = vec![1.0; 100];
        let rects = squarify(&w, AREA);
        for r in rects {
            let ratio = (r.w / r.h).max(r.h / r.w);
            assert!(ratio < 3.0, "{r:?}");
        }
    }

    #[test]
    fn degenerate_inputs_give_empty_rectangles() {
        assert!(squarify(&[], AREA).is_empty());
        let r = squarify(&[0.0, f64::NAN, -1.0], AREA);
        assert!(r.iter().all(|r| r.w == 0.0 && r.h == 0.0));
        let r = squarify(&[3.0, 0.0, 1.0], AREA);
        assert!(close(r[0].w * r[0].h, AREA.w * AREA.h * 0.75));
        assert_eq!(r[1].w * r[1].h, 0.0);
        let zero = Rect { w: 0.0, ..AREA };
        assert!(squarify(&[1.0], zero).iter().all(|r| r.w == 0.0));
    }
}
