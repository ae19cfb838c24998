//! Host side of the train-on-host → run-on-device pipeline (`firmware-example/train-model.sh`).
//!
//! ```text
//! sensor_data normal OUT.csv N SEED     N normal readings of the simulated sensor (the injected
//!                                       anomalies skipped), in sensor units, as x,y rows
//! sensor_data threshold MODEL N SEED Q  the Q-quantile of the learned flow's log-likelihoods of
//!                                       N held-out normal readings, scored by the device's f32
//!                                       code, printed as an f32 literal
//! sensor_data score-threshold MODEL N SEED Q
//!                                       the same for the score network's probability-flow
//!                                       log-likelihoods (the second opinion)
//! ```

use std::io::Write;
use std::process::ExitCode;

use flowscore_scenario::learned::{LearnedDetector, SecondOpinion};
use flowscore_scenario::sensor::{SENSOR_ADDRESS, Sensor, SimulatedSensor};

/// `n` normal readings of the simulated sensor with jitter seed `seed`.
fn normal_readings(n: usize, seed: u32) -> Result<Vec<[f32; 2]>, String> {
    let mut sensor = Sensor::new(SimulatedSensor::new(seed), SENSOR_ADDRESS)
        .map_err(|e| format!("sensor: {e:?}"))?;
    let mut out = Vec::with_capacity(n);
    let mut index = 0u32;
    while out.len() < n {
        let reading = sensor.read().map_err(|e| format!("sensor: {e:?}"))?;
        if !SimulatedSensor::is_anomaly(index) {
            out.push(reading);
        }
        index = index.wrapping_add(1);
    }
    Ok(out)
}

/// The `q`-quantile of `score` over `n` normal readings with jitter seed `seed`.
fn quantile(
    n: usize,
    seed: u32,
    q: f64,
    score: impl Fn([f32; 2]) -> Result<f32, flowscore::Error>,
) -> Result<f32, String> {
    if !(0.0..1.0).contains(&q) {
        return Err(format!("Q must lie in [0, 1): {q}"));
    }
    let mut lps = Vec::new();
    for x in normal_readings(n, seed)? {
        let lp = score(x).map_err(|e| format!("{x:?}: {e}"))?;
        if !lp.is_finite() {
            return Err(format!("{x:?}: log-likelihood {lp}"));
        }
        lps.push(lp);
    }
    lps.sort_by(f32::total_cmp);
    Ok(lps[((q * lps.len() as f64) as usize).min(lps.len() - 1)])
}

fn number<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("{what}: not a number: {s}"))
}

/// A count of readings: at least 1.
fn count(s: &str) -> Result<usize, String> {
    match number(s, "N")? {
        0 => Err("N must be at least 1".into()),
        n => Ok(n),
    }
}

fn run(args: &[String]) -> Result<(), String> {
    match args {
        [cmd, out, n, seed] if cmd == "normal" => {
            let xs = normal_readings(count(n)?, number(seed, "SEED")?)?;
            let mut text = String::from("x,y\n");
            for [x, y] in xs {
                text.push_str(&format!("{x},{y}\n"));
            }
            std::fs::write(out, text).map_err(|e| format!("{out}: {e}"))
        }
        [cmd, model, n, seed, q] if cmd == "threshold" || cmd == "score-threshold" => {
            let bytes = std::fs::read(model).map_err(|e| format!("{model}: {e}"))?;
            let (n, seed, q) = (count(n)?, number(seed, "SEED")?, number(q, "Q")?);
            let threshold = if cmd == "threshold" {
                let detector =
                    LearnedDetector::load(&bytes).map_err(|e| format!("{model}: {e}"))?;
                quantile(n, seed, q, |x| detector.log_prob(x))?
            } else {
                let second = SecondOpinion::load(&bytes).map_err(|e| format!("{model}: {e}"))?;
                quantile(n, seed, q, |x| second.log_prob(x).map(|(lp, _)| lp))?
            };
            writeln!(std::io::stdout(), "{threshold:?}").map_err(|e| e.to_string())
        }
        _ => Err("usage: sensor_data normal OUT.csv N SEED | threshold MODEL N SEED Q | \
                  score-threshold MODEL N SEED Q"
            .into()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
