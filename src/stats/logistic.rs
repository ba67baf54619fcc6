//! L2-regularised logistic regression by Newton's method, with a cluster-robust covariance.
//!
//! The objective is the summed log-loss plus (λ/2)·‖β‖² over the coefficients (the intercept is
//! not penalised), i.e. scikit-learn's `LogisticRegression(C = 1/λ)`. Newton steps with step
//! halving run until the largest change of a parameter is below 10⁻¹⁰; every sum runs in the
//! data's order on one thread, so a fit is identical run to run.
//!
//! The covariance is the sandwich H⁻¹·(Σ_g s_g s_gᵀ)·H⁻¹·G/(G − 1), with H the penalised
//! Hessian at the solution, s_g the log-likelihood's score summed over cluster g, and G the
//! number of clusters (the small-sample factor of Stata's `vce(cluster)` for maximum-likelihood
//! models; statsmodels' `cov_type="cluster"` multiplies by (N − 1)/(N − K) besides). Clustering
//! by account keeps an account observed at many dates from counting as many independent ones.
//!
//! The linear solves use `nalgebra`'s Cholesky factorisation: H is symmetric positive definite
//! whenever λ > 0.

use std::collections::BTreeMap;

use nalgebra::{DMatrix, DVector};

use super::normal::z95;
use super::proportions::Interval;

/// Observations grouped by (cluster, covariates): each row stands for `trials` observations of
/// one cluster with the same covariates, `successes` of which converted. Rows of one observation
/// each (`trials` 1, `successes` 0 or 1) are the plain case; grouping gives the same fit faster.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Binomial {
    /// The number of covariates (the intercept not counted).
    pub k: usize,
    /// Row-major, `k` values per row.
    pub x: Vec<f64>,
    pub trials: Vec<f64>,
    pub successes: Vec<f64>,
    pub cluster: Vec<u32>,
}

impl Binomial {
    pub fn new(k: usize) -> Self {
        Self {
            k,
            ..Self::default()
        }
    }

    /// Adds a row; `x` must have `k` values and `successes` must be within `0..=trials`.
    pub fn push(&mut self, x: &[f64], trials: f64, successes: f64, cluster: u32) {
        assert_eq!(x.len(), self.k, "a row has k covariates");
        debug_assert!((0.0..=trials).contains(&successes));
        self.x.extend_from_slice(x);
        self.trials.push(trials);
        self.successes.push(successes);
        self.cluster.push(cluster);
    }

    pub fn rows(&self) -> usize {
        self.trials.len()
    }

    fn row(&self, i: usize) -> &[f64] {
        &self.x[i * self.k..(i + 1) * self.k]
    }
}

/// Why a model could not be fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error("no observations")]
    Empty,
    #[error("every observation has the same outcome ({successes} of {trials} converted)")]
    NoVariation { successes: f64, trials: f64 },
    #[error("the Hessian is singular (a covariate is constant or duplicates another, and λ = 0)")]
    Singular,
    #[error("Newton's method did not converge in {0} iterations")]
    NotConverged(u32),
}

/// A fitted model. Index 0 of the covariance is the intercept, 1 + j the j-th covariate.
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticFit {
    pub intercept: f64,
    pub coefficients: Vec<f64>,
    /// The cluster-robust covariance, (k + 1)², row-major; `None` with fewer than 2 clusters.
    pub covariance: Option<Vec<f64>>,
    pub clusters: usize,
    pub iterations: u32,
    /// The maximised objective: log-likelihood − (λ/2)·‖β‖².
    pub penalised_log_likelihood: f64,
}

impl LogisticFit {
    /// The intercept plus Σ βⱼxⱼ: the log-odds of converting.
    pub fn log_odds(&self, x: &[f64]) -> f64 {
        self.intercept
            + self
                .coefficients
                .iter()
                .zip(x)
                .map(|(b, v)| b * v)
                .sum::<f64>()
    }

    /// The probability of converting.
    pub fn probability(&self, x: &[f64]) -> f64 {
        sigmoid(self.log_odds(x))
    }

    /// The cluster-robust standard error of parameter `i` (0 = the intercept, 1 + j = covariate j).
    pub fn standard_error(&self, i: usize) -> Option<f64> {
        let n = self.coefficients.len() + 1;
        let v = self.covariance.as_ref()?.get(i * n + i)?;
        (*v >= 0.0).then(|| v.sqrt())
    }

    /// The 95 % Wald interval βⱼ ± z·se of covariate `j`.
    pub fn coefficient_ci95(&self, j: usize) -> Option<Interval> {
        let b = *self.coefficients.get(j)?;
        let half = z95() * self.standard_error(j + 1)?;
        Some(Interval {
            lo: b - half,
            hi: b + half,
        })
    }
}

pub fn sigmoid(eta: f64) -> f64 {
    if eta >= 0.0 {
        1.0 / (1.0 + (-eta).exp())
    } else {
        let e = eta.exp();
        e / (1.0 + e)
    }
}

/// log(1 + e^η) without overflow.
fn softplus(eta: f64) -> f64 {
    if eta > 0.0 {
        eta + (-eta).exp().ln_1p()
    } else {
        eta.exp().ln_1p()
    }
}

const MAX_ITERATIONS: u32 = 100;
const TOLERANCE: f64 = 1e-10;

/// Fits the model of the module's documentation with penalty `lambda` (SPEC §11: 1).
pub fn fit_logistic(data: &Binomial, lambda: f64) -> Result<LogisticFit, FitError> {
    let trials: f64 = data.trials.iter().sum();
    let successes: f64 = data.successes.iter().sum();
    if data.rows() == 0 || trials <= 0.0 {
        return Err(FitError::Empty);
    }
    if successes <= 0.0 || successes >= trials {
        return Err(FitError::NoVariation { successes, trials });
    }
    let p = data.k + 1;
    let mut beta = DVector::<f64>::zeros(p);
    let rate = successes / trials;
    beta[0] = (rate / (1.0 - rate)).ln();
    let mut objective = penalised_loss(data, &beta, lambda);
    let mut iterations = 0;
    loop {
        if iterations == MAX_ITERATIONS {
            return Err(FitError::NotConverged(iterations));
        }
        iterations += 1;
        let (gradient, hessian) = gradient_hessian(data, &beta, lambda);
        let step = hessian
            .cholesky()
            .ok_or(FitError::Singular)?
            .solve(&gradient);
        // Step halving keeps every iteration downhill; a full Newton step is the usual case.
        let mut t = 1.0;
        let (mut next, mut next_objective);
        loop {
            next = &beta - &step * t;
            next_objective = penalised_loss(data, &next, lambda);
            if next_objective <= objective + 1e-12 * objective.abs() || t < 1e-10 {
                break;
            }
            t /= 2.0;
        }
        let change = (&next - &beta).amax();
        beta = next;
        objective = next_objective;
        if !beta.iter().all(|b| b.is_finite()) {
            return Err(FitError::NotConverged(iterations));
        }
        if change < TOLERANCE {
            break;
        }
    }
    let (_, hessian) = gradient_hessian(data, &beta, lambda);
    let covariance = cluster_covariance(data, &beta, hessian)?;
    let clusters = data
        .cluster
        .iter()
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    Ok(LogisticFit {
        intercept: beta[0],
        coefficients: beta.iter().skip(1).copied().collect(),
        covariance,
        clusters,
        iterations,
        penalised_log_likelihood: -objective,
    })
}

fn eta(data: &Binomial, beta: &DVector<f64>, i: usize) -> f64 {
    beta[0]
        + data
            .row(i)
            .iter()
            .enumerate()
            .map(|(j, v)| beta[j + 1] * v)
            .sum::<f64>()
}

/// Σ [n·log(1 + e^η) − y·η] + (λ/2)·Σ_{j ≥ 1} βⱼ².
fn penalised_loss(data: &Binomial, beta: &DVector<f64>, lambda: f64) -> f64 {
    let loss: f64 = (0..data.rows())
        .map(|i| {
            let e = eta(data, beta, i);
            data.trials[i] * softplus(e) - data.successes[i] * e
        })
        .sum();
    let penalty: f64 = beta.iter().skip(1).map(|b| b * b).sum();
    loss + 0.5 * lambda * penalty
}

/// The penalised loss's gradient and Hessian at `beta`.
fn gradient_hessian(
    data: &Binomial,
    beta: &DVector<f64>,
    lambda: f64,
) -> (DVector<f64>, DMatrix<f64>) {
    let p = data.k + 1;
    let mut g = DVector::<f64>::zeros(p);
    let mut h = DMatrix::<f64>::zeros(p, p);
    let mut xt = vec![1.0; p];
    for i in 0..data.rows() {
        xt[1..].copy_from_slice(data.row(i));
        let prob = sigmoid(eta(data, beta, i));
        let n = data.trials[i];
        let resid = n * prob - data.successes[i];
        let w = n * prob * (1.0 - prob);
        for a in 0..p {
            g[a] += xt[a] * resid;
            if w != 0.0 && xt[a] != 0.0 {
                for b in 0..=a {
                    h[(a, b)] += w * xt[a] * xt[b];
                }
            }
        }
    }
    for a in 0..p {
        for b in 0..a {
            h[(b, a)] = h[(a, b)];
        }
        if a > 0 {
            g[a] += lambda * beta[a];
            h[(a, a)] += lambda;
        }
    }
    (g, h)
}

/// H⁻¹·(Σ_g s_g s_gᵀ)·H⁻¹·G/(G − 1), or `None` with fewer than 2 clusters.
fn cluster_covariance(
    data: &Binomial,
    beta: &DVector<f64>,
    hessian: DMatrix<f64>,
) -> Result<Option<Vec<f64>>, FitError> {
    let p = data.k + 1;
    let mut scores: BTreeMap<u32, DVector<f64>> = BTreeMap::new();
    for i in 0..data.rows() {
        let resid = data.successes[i] - data.trials[i] * sigmoid(eta(data, beta, i));
        let s = scores
            .entry(data.cluster[i])
            .or_insert_with(|| DVector::zeros(p));
        s[0] += resid;
        for (j, v) in data.row(i).iter().enumerate() {
            s[j + 1] += v * resid;
        }
    }
    let g = scores.len();
    if g < 2 {
        return Ok(None);
    }
    let mut meat = DMatrix::<f64>::zeros(p, p);
    for s in scores.values() {
        meat += s * s.transpose();
    }
    let bread = hessian.cholesky().ok_or(FitError::Singular)?.inverse();
    let v = &bread * meat * &bread * (g as f64 / (g as f64 - 1.0));
    // Row-major, symmetrised against rounding.
    let mut out = vec![0.0; p * p];
    for a in 0..p {
        for b in 0..p {
            out[a * p + b] = 0.5 * (v[(a, b)] + v[(b, a)]);
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 240 observations in 76 clusters (ids 0–79), 3 binary covariates, generated by numpy
    /// (`default_rng(20261201)`: covariates Bernoulli(0.3, 0.4, 0.5), true log-odds
    /// −1.5 + 1.6·x₁ + 1.1·x₂ + 0·x₃) by `scripts/stats_oracle/logit.py`.
    const GROUPS: [u32; 240] = [
        34, 53, 18, 4, 43, 31, 26, 28, 66, 49, 33, 12, 34, 28, 66, 39, 5, 15, 70, 40, 19, 6, 49,
        19, 7, 23, 24, 74, 30, 41, 70, 16, 78, 41, 54, 43, 39, 53, 60, 33, 79, 57, 32, 42, 44, 23,
        74, 27, 29, 33, 59, 63, 12, 65, 54, 53, 42, 37, 52, 21, 76, 20, 27, 72, 73, 69, 74, 69, 65,
        1, 17, 7, 22, 13, 57, 10, 5, 7, 8, 69, 69, 31, 71, 50, 70, 74, 2, 2, 77, 36, 33, 20, 44,
        25, 64, 27, 33, 33, 22, 27, 29, 27, 20, 64, 49, 63, 63, 3, 78, 12, 66, 60, 40, 34, 9, 2,
        25, 29, 67, 3, 17, 41, 64, 76, 2, 77, 69, 8, 18, 66, 44, 45, 6, 20, 11, 38, 13, 63, 22, 77,
        0, 27, 24, 38, 41, 18, 76, 76, 19, 54, 64, 39, 14, 73, 60, 41, 25, 62, 61, 61, 61, 7, 32,
        78, 77, 53, 55, 1, 25, 31, 8, 39, 74, 19, 42, 11, 40, 4, 25, 60, 73, 48, 1, 46, 66, 46, 24,
        74, 7, 26, 3, 29, 71, 45, 57, 14, 13, 15, 31, 69, 18, 34, 56, 32, 69, 67, 27, 34, 26, 11,
        55, 7, 50, 51, 57, 60, 42, 44, 39, 6, 70, 33, 74, 43, 71, 42, 72, 53, 32, 17, 40, 32, 63,
        63, 27, 4, 63, 58, 21, 50,
    ];
    /// Three digits per observation: x₁x₂x₃.
    const X: &str = "000011001001100100000011011010010000111011001010100101101000011000000101001011001010001011100010111011010110010000001110100010010110001011011011000110011100011011001101001000010101000001000000111111001100110000110000111101000110001001000000001111001100110011001100000010011101101110011111100011111001001100110110011110111000010000010011000101011010000001011100100000001010010000101011101100001010001000010011100001000010011001111111001101101100000001011110000010000001110001010010010001010001001000010101010100010100010011100000100010100010101100000101000000011111000100000010011001001000001010010010000111010001001000010110000001001011001101000000100011011010110101001011011011010011011001011111100010110111011001000110";
    const Y: &str = "010000001000110011100001000000111111100010111110010110000000010001001011010000000110100001010101101000111111100001110101000110011101101110010111010100010010101010000100000100000010100100110110100000010100100100001100100011001010010111000011";

    fn digit(c: u8) -> f64 {
        f64::from(c - b'0')
    }

    fn data() -> Binomial {
        let mut d = Binomial::new(3);
        let (x, y) = (X.as_bytes(), Y.as_bytes());
        for i in 0..240 {
            let row = [digit(x[3 * i]), digit(x[3 * i + 1]), digit(x[3 * i + 2])];
            d.push(&row, 1.0, digit(y[i]), GROUPS[i]);
        }
        d
    }

    fn assert_close(got: f64, want: f64, tol: f64, what: &str) {
        assert!((got - want).abs() <= tol, "{what}: {got} vs {want}");
    }

    /// Reference: the same objective minimised by scipy 1.17.1 (BFGS, gradient norm 2e-10) and by
    /// scikit-learn 1.9.1 `LogisticRegression(C=1, tol=1e-12)` (equal to 7 digits); the sandwich
    /// computed from that solution with numpy as H⁻¹·Σ_g s_g s_gᵀ·H⁻¹·G/(G − 1).
    #[test]
    fn the_penalised_fit_and_its_cluster_robust_errors_match_scipy() {
        let fit = fit_logistic(&data(), 1.0).expect("fits");
        let beta = [
            -1.4397933897519042,
            1.757165507141936,
            0.9897867506384874,
            0.05659844214392246,
        ];
        let se = [
            0.24119767665876876,
            0.2921595516186547,
            0.26336058258977846,
            0.2948694507046921,
        ];
        assert_close(fit.intercept, beta[0], 1e-8, "intercept");
        for j in 0..3 {
            assert_close(fit.coefficients[j], beta[j + 1], 1e-8, "coefficient");
        }
        for (i, want) in se.iter().enumerate() {
            assert_close(fit.standard_error(i).expect("se"), *want, 1e-8, "se");
        }
        assert_eq!(fit.clusters, 76);
        let ci = fit.coefficient_ci95(2).expect("ci");
        assert!(
            ci.contains(0.0),
            "the null covariate's interval holds 0: {ci:?}"
        );
        assert!(fit.coefficient_ci95(0).is_some_and(|c| c.lo > 0.0));
        assert!(fit.iterations < 15, "{}", fit.iterations);
    }

    /// Reference: statsmodels 0.15.0 `Logit(y, X).fit(cov_type="cluster", cov_kwds={"groups":
    /// g})`: the maximum-likelihood estimate, and standard errors equal to ours times
    /// √((N − 1)/(N − K)) = √(239/236), the factor statsmodels adds.
    #[test]
    fn without_a_penalty_it_is_maximum_likelihood_with_statsmodels_errors() {
        let fit = fit_logistic(&data(), 0.0).expect("fits");
        let beta = [-1.58018715, 1.96085513, 1.11976788, 0.07305365];
        let sm_se = [0.27948189, 0.34168846, 0.30648191, 0.33409075];
        assert_close(fit.intercept, beta[0], 1e-7, "intercept");
        for j in 0..3 {
            assert_close(fit.coefficients[j], beta[j + 1], 1e-7, "coefficient");
        }
        let factor = (239.0f64 / 236.0).sqrt();
        for (i, want) in sm_se.iter().enumerate() {
            assert_close(
                fit.standard_error(i).expect("se") * factor,
                *want,
                1e-7,
                "se",
            );
        }
    }

    #[test]
    fn grouped_rows_give_the_same_fit_and_runs_are_identical() {
        let plain = data();
        let mut cells: BTreeMap<(u32, [u8; 3]), (f64, f64)> = BTreeMap::new();
        for i in 0..plain.rows() {
            let r = plain.row(i);
            let key = (plain.cluster[i], [r[0] as u8, r[1] as u8, r[2] as u8]);
            let c = cells.entry(key).or_default();
            c.0 += 1.0;
            c.1 += plain.successes[i];
        }
        let mut grouped = Binomial::new(3);
        for ((g, x), (n, y)) in &cells {
            grouped.push(&x.map(f64::from), *n, *y, *g);
        }
        assert!(grouped.rows() < plain.rows());
        let a = fit_logistic(&plain, 1.0).expect("fits");
        let b = fit_logistic(&grouped, 1.0).expect("fits");
        for j in 0..3 {
            assert_close(a.coefficients[j], b.coefficients[j], 1e-10, "coefficient");
            assert_close(
                a.standard_error(j).expect("se"),
                b.standard_error(j).expect("se"),
                1e-10,
                "se",
            );
        }
        assert_eq!(fit_logistic(&plain, 1.0), Ok(a), "identical run to run");
    }

    #[test]
    fn it_refuses_what_cannot_be_fitted() {
        let mut d = Binomial::new(1);
        assert_eq!(fit_logistic(&d, 1.0), Err(FitError::Empty));
        d.push(&[1.0], 3.0, 0.0, 1);
        d.push(&[0.0], 2.0, 0.0, 2);
        assert!(matches!(
            fit_logistic(&d, 1.0),
            Err(FitError::NoVariation { .. })
        ));
        // A covariate that separates perfectly diverges without a penalty, and is held by one.
        d.push(&[1.0], 4.0, 4.0, 3);
        d.push(&[0.0], 1.0, 0.0, 3);
        d.successes[0] = 3.0;
        assert!(fit_logistic(&d, 0.0).is_err());
        let held = fit_logistic(&d, 1.0).expect("the penalty keeps it finite");
        assert!(held.coefficients[0].is_finite() && held.coefficients[0] > 0.0);
        // One cluster: no cluster-robust covariance.
        let mut one = Binomial::new(1);
        one.push(&[1.0], 5.0, 2.0, 7);
        one.push(&[0.0], 5.0, 1.0, 7);
        let f = fit_logistic(&one, 1.0).expect("fits");
        assert_eq!((f.covariance, f.clusters), (None, 1));
    }
}
