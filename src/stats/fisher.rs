//! Fisher's exact test of a 2×2 table, two-sided exactly as R's `fisher.test`: the p-value is the
//! sum of the probabilities, under the hypergeometric law of the observed margins, of every table
//! no more likely than the observed one, "no more likely" with R's relative tolerance of 10⁻⁷ (so
//! tables tied with the observed one up to rounding count).

use statrs::function::factorial::ln_binomial;

/// R's `relErr` in `fisher.test`: a table counts when its probability is ≤ the observed one's × (1 + 10⁻⁷).
const REL_ERR: f64 = 1.0 + 1e-7;

/// The two-sided p-value of the table
///
/// ```text
///             converted   not converted
/// group 1         a             b
/// group 2         c             d
/// ```
///
/// 1.0 when a margin is empty (every table with those margins is the observed one).
pub fn fisher_exact(a: u64, b: u64, c: u64, d: u64) -> f64 {
    // R's names: m = first column's sum, n = second column's, k = first row's, x = a.
    let (m, n, k) = (a + c, b + d, a + b);
    let lo = k.saturating_sub(n);
    let hi = k.min(m);
    if lo == hi {
        return 1.0;
    }
    // log dhyper(x; m, n, k) up to the constant −log C(m + n, k), which the normalisation removes.
    let log_d: Vec<f64> = (lo..=hi)
        .map(|x| ln_binomial(m, x) + ln_binomial(n, k - x))
        .collect();
    let max = log_d.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let d: Vec<f64> = log_d.iter().map(|l| (l - max).exp()).collect();
    let total: f64 = d.iter().sum();
    let observed = d[(a - lo) as usize];
    let p: f64 = d.iter().filter(|&&x| x <= observed * REL_ERR).sum::<f64>() / total;
    p.min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values from scipy 1.17.1, `scipy.stats.fisher_exact(table,
    /// alternative="two-sided").pvalue`, which implements R's definition (same 1 + 1e-7
    /// tolerance). The first is R's tea-tasting table (R's documentation gives 0.4857 two-sided),
    /// the second the textbook example with p = 0.002759.
    #[test]
    fn matches_r_and_scipy_two_sided() {
        let cases: [((u64, u64, u64, u64), f64); 10] = [
            ((3, 1, 1, 3), 0.48571428571428565),
            ((1, 9, 11, 3), 0.0027594561852200836),
            ((10, 90, 5, 95), 0.2827638303777807),
            ((0, 10, 10, 0), 1.082508822446903e-05),
            ((5, 5, 5, 5), 1.0),
            ((12, 488, 30, 9470), 5.983917434693149e-07),
            ((7, 93, 7, 93), 1.0),
            ((40, 160, 20, 180), 0.0074192372767549215),
            ((2, 3, 4, 1), 0.5238095238095238),
            ((250, 1750, 100, 7900), 3.752228093899882e-100),
        ];
        for ((a, b, c, d), want) in cases {
            let got = fisher_exact(a, b, c, d);
            assert!(
                (got - want).abs() <= 1e-9 * want,
                "fisher({a},{b},{c},{d}) = {got:e}, want {want:e}"
            );
        }
    }

    #[test]
    fn is_symmetric_in_rows_and_columns_and_one_for_an_empty_margin() {
        // Equal up to the rounding of the log-factorials (about 10⁻¹¹ relative at these sizes).
        let p = fisher_exact(12, 488, 30, 9470);
        assert!((fisher_exact(30, 9470, 12, 488) - p).abs() <= 1e-9 * p);
        assert!((fisher_exact(12, 30, 488, 9470) - p).abs() <= 1e-9 * p);
        assert_eq!(fisher_exact(0, 0, 4, 9), 1.0);
        assert_eq!(fisher_exact(0, 5, 0, 9), 1.0);
    }
}
