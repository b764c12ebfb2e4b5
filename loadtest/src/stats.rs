//! Latency histograms and the report's percentile summaries.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Longest latency a histogram holds, in microseconds (longer ones are clamped to it):
/// ten minutes, far past any run's drain.
const LATENCY_MICROS_MAX: u64 = 600_000_000;

/// A latency histogram in microseconds, three significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MICROS_MAX, 3).expect("valid histogram bounds")
}

/// A float as a whole number, rounded down, negative as 0, too large as `u64::MAX`
/// (`as` saturates): for counts and positions computed from rates and seconds, which
/// only the report uses.
#[allow(
    clippy::cast_possible_truncation,
    reason = "a saturating conversion is what the report wants"
)]
pub fn whole(x: f64) -> u64 {
    x.max(0.0) as u64
}

/// Records `micros` (at least 1, at most the bound).
pub fn record(histogram: &mut Histogram<u64>, micros: u64) {
    histogram.saturating_record(micros.max(1));
}

/// p50, p90, p99, p99.9 and max of one distribution, with its sample count.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub samples: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Percentiles {
    /// From a histogram, each value divided by `scale` (1000 turns microseconds into
    /// milliseconds).
    pub fn of(histogram: &Histogram<u64>, scale: f64) -> Percentiles {
        if histogram.is_empty() {
            return Percentiles::default();
        }
        let q = |quantile: f64| histogram.value_at_quantile(quantile) as f64 / scale;
        Percentiles {
            samples: histogram.len(),
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p999: q(0.999),
            max: histogram.max() as f64 / scale,
            mean: histogram.mean() / scale,
        }
    }

    /// From plain samples (few: block times and the like).
    pub fn of_values(values: &[f64]) -> Percentiles {
        if values.is_empty() {
            return Percentiles::default();
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let at = |quantile: f64| {
            let rank = usize::try_from(whole((quantile * sorted.len() as f64).ceil()))
                .unwrap_or(usize::MAX);
            sorted[rank.clamp(1, sorted.len()) - 1]
        };
        Percentiles {
            samples: sorted.len() as u64,
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: *sorted.last().expect("not empty"),
            mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
        }
    }
}

/// One point of a latency distribution curve: the latency (ms) at this percentile.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CurvePoint {
    pub percentile: f64,
    pub ms: f64,
}

/// The percentile curve of a microsecond histogram, for the HTML chart: points at
/// 0, 50, 75, 87.5, … percent (halving the distance to 100% each step), as
/// HdrHistogram's own plots do.
pub fn curve(histogram: &Histogram<u64>) -> Vec<CurvePoint> {
    if histogram.is_empty() {
        return Vec::new();
    }
    let mut points = Vec::new();
    let mut remaining = 1.0f64;
    loop {
        let quantile = 1.0 - remaining;
        points.push(CurvePoint {
            percentile: quantile * 100.0,
            ms: histogram.value_at_quantile(quantile) as f64 / 1000.0,
        });
        if remaining < 1e-5 || (remaining * histogram.len() as f64) < 1.0 {
            break;
        }
        remaining /= 2.0;
    }
    points.push(CurvePoint {
        percentile: 100.0,
        ms: histogram.max() as f64 / 1000.0,
    });
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_read_the_histogram() {
        let mut h = latency_histogram();
        for micros in 1..=1000u64 {
            record(&mut h, micros * 1000);
        }
        let p = Percentiles::of(&h, 1000.0);
        assert_eq!(p.samples, 1000);
        assert!((p.p50 - 500.0).abs() < 1.0, "{p:?}");
        assert!((p.p99 - 990.0).abs() < 1.0, "{p:?}");
        assert!((p.max - 1000.0).abs() < 1.0, "{p:?}");
        let c = curve(&h);
        assert!(
            c.windows(2)
                .all(|w| w[0].ms <= w[1].ms && w[0].percentile < w[1].percentile)
        );
        let v = Percentiles::of_values(&[3.0, 1.0, 2.0, 4.0]);
        assert_eq!((v.p50, v.max, v.samples), (2.0, 4.0, 4));
    }
}
