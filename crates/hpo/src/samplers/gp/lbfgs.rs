//! Limited-memory BFGS with a backtracking (Armijo) line search, for smooth
//! unconstrained minimisation of small problems.

// Dense numeric code reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

/// Minimise `f` (value and gradient) from `x0`; returns the best point found.
pub fn minimize<F>(mut f: F, x0: Vec<f64>, max_iter: usize) -> Vec<f64>
where
    F: FnMut(&[f64]) -> (f64, Vec<f64>),
{
    const M: usize = 6;
    let n = x0.len();
    let mut x = x0;
    let (mut fx, mut g) = f(&x);
    if !fx.is_finite() {
        return x;
    }
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    for _ in 0..max_iter {
        let gnorm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        if gnorm < 1e-6 {
            break;
        }
        // Two-loop recursion.
        let mut q = g.clone();
        let k = s_hist.len();
        let mut alphas = vec![0.0; k];
        for i in (0..k).rev() {
            let rho = 1.0 / dot(&y_hist[i], &s_hist[i]);
            alphas[i] = rho * dot(&s_hist[i], &q);
            axpy(-alphas[i], &y_hist[i], &mut q);
        }
        let gamma = if k > 0 {
            dot(&s_hist[k - 1], &y_hist[k - 1]) / dot(&y_hist[k - 1], &y_hist[k - 1])
        } else {
            1.0 / gnorm.max(1.0)
        };
        q.iter_mut().for_each(|v| *v *= gamma);
        for i in 0..k {
            let rho = 1.0 / dot(&y_hist[i], &s_hist[i]);
            let beta = rho * dot(&y_hist[i], &q);
            axpy(alphas[i] - beta, &s_hist[i], &mut q);
        }
        let mut dir: Vec<f64> = q.iter().map(|v| -v).collect();
        let mut slope = dot(&g, &dir);
        if slope >= 0.0 {
            dir = g.iter().map(|v| -v).collect();
            slope = -gnorm * gnorm;
            s_hist.clear();
            y_hist.clear();
        }
        // Backtracking line search.
        let mut step = 1.0;
        let mut accepted = None;
        for _ in 0..30 {
            let xn: Vec<f64> = x.iter().zip(&dir).map(|(a, d)| a + step * d).collect();
            let (fn_, gn) = f(&xn);
            if fn_.is_finite() && fn_ <= fx + 1e-4 * step * slope {
                accepted = Some((xn, fn_, gn));
                break;
            }
            step *= 0.5;
        }
        let Some((xn, fn_, gn)) = accepted else { break };
        let s: Vec<f64> = xn.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = gn.iter().zip(&g).map(|(a, b)| a - b).collect();
        let improvement = fx - fn_;
        x = xn;
        g = gn;
        fx = fn_;
        if dot(&s, &y) > 1e-12 {
            if s_hist.len() == M {
                s_hist.remove(0);
                y_hist.remove(0);
            }
            s_hist.push(s);
            y_hist.push(y);
        }
        if improvement.abs() < 1e-7 * (1.0 + fx.abs()) {
            break;
        }
    }
    debug_assert_eq!(x.len(), n);
    x
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    y.iter_mut().zip(x).for_each(|(yi, xi)| *yi += a * xi);
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_rosenbrock_minimum() {
        let f = |x: &[f64]| {
            let (a, b) = (x[0], x[1]);
            let v = (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2);
            let g = vec![
                -2.0 * (1.0 - a) - 400.0 * a * (b - a * a),
                200.0 * (b - a * a),
            ];
            (v, g)
        };
        let x = super::minimize(f, vec![-1.2, 1.0], 500);
        assert!(
            (x[0] - 1.0).abs() < 1e-3 && (x[1] - 1.0).abs() < 1e-3,
            "{x:?}"
        );
    }
}
