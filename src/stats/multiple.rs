//! Benjamini–Hochberg false-discovery-rate q-values, as R's `p.adjust(p, "BH")`.

/// q_(i) = min over j ≥ i of (m / j)·p_(j), capped at 1, with p sorted ascending and m = the
/// number of p-values; returned in the input's order. A q-value below α marks the discoveries of
/// a procedure that keeps the expected share of false ones among them at most α.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]).then(i.cmp(&j)));
    let mut q = vec![0.0; m];
    let mut running = f64::INFINITY;
    for (rank, &i) in order.iter().enumerate().rev() {
        running = running.min(p[i] * m as f64 / (rank + 1) as f64);
        q[i] = running.min(1.0);
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference: statsmodels 0.15.0, `multipletests(p, method="fdr_bh")[1]` (equal to R's
    /// `p.adjust(p, "BH")`).
    #[test]
    fn matches_statsmodels() {
        let cases: [(&[f64], &[f64]); 2] = [
            (
                &[0.01, 0.04, 0.03, 0.005, 0.2, 0.5, 0.04, 0.9],
                &[
                    0.04,
                    0.064,
                    0.064,
                    0.04,
                    0.26666666666666666,
                    0.5714285714285714,
                    0.064,
                    0.9,
                ],
            ),
            (
                &[0.001, 0.008, 0.039, 0.041, 0.042, 0.060, 0.074, 0.205],
                &[
                    0.008,
                    0.032,
                    0.0672,
                    0.0672,
                    0.0672,
                    0.08,
                    0.08457142857142856,
                    0.205,
                ],
            ),
        ];
        for (p, want) in cases {
            let got = benjamini_hochberg(p);
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() < 1e-12, "{got:?} vs {want:?}");
            }
        }
        assert!(benjamini_hochberg(&[]).is_empty());
        assert_eq!(benjamini_hochberg(&[0.7]), vec![0.7]);
    }
}
