//! The firmware example: runs the shared scenario on the simulated I²C sensor, lights the LED
//! for anomalous readings, prints a summary and the hash of every number produced, checks the
//! hash against the one the host computes, reports its footprint, and exits 0.
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m_rt::entry;
use flowscore::rng::Streams;
use flowscore::sample::{EulerMaruyama, LaneSampler};
use flowscore::sde::{SAMPLING_EPS_VP, Vp};
use flowscore_firmware_example::board::FpgaLed;
use flowscore_firmware_example::{
    EXIT_OK, check, counter, exit, fail, some, stack, verified_detector,
};
use flowscore_scenario::learned::{
    self, LearnedDetector, SCORE_THRESHOLD, SecondOpinion, SensorFlowLayers,
};
use flowscore_scenario::sensor::SimulatedSensor;
use flowscore_scenario::{EXPECTED_HASH, Models, Report, SAMPLE_SEED, SENSOR_SEED};

/// Logs each anomaly as the scenario finds it.
struct DefmtReport;

impl Report for DefmtReport {
    fn anomaly(&mut self, index: u32, reading: [f32; 2], flow_lp: f32, mixture_lp: f32) {
        defmt::warn!(
            "anomaly: reading {=u32} at ({=f32}, {=f32}), log-likelihood: flow {=f32}, mixture {=f32}; LED on",
            index,
            reading[0],
            reading[1],
            flow_lp,
            mixture_lp
        );
    }
    fn false_alarm(&mut self, index: u32, reading: [f32; 2], log_prob: f32) {
        defmt::warn!(
            "false alarm: normal reading {=u32} at ({=f32}, {=f32}), learned log-likelihood {=f32}",
            index,
            reading[0],
            reading[1],
            log_prob
        );
    }
}

/// Bytes of the damaged copy of the score network's model file (`planted-corruption`).
#[cfg(feature = "planted-corruption")]
const DAMAGED_CAPACITY: usize = 4096;

/// Loads the score network's model file from flash into `second` in place: its checksum,
/// shapes and parameters verified before use, a refusal logged with the loader's reason. With
/// `planted-corruption` one bit of a RAM copy of the file is flipped first, as a damaged flash
/// page would hold it, and the run must end with a reported error.
#[inline(never)]
fn load_second_opinion(second: &mut SecondOpinion) {
    #[cfg(not(feature = "planted-corruption"))]
    let result = second.reload(learned::SCORE_MODEL);
    #[cfg(feature = "planted-corruption")]
    let mut damaged = [0u8; DAMAGED_CAPACITY];
    #[cfg(feature = "planted-corruption")]
    let result = {
        let n = learned::SCORE_MODEL.len().min(DAMAGED_CAPACITY);
        damaged[..n].copy_from_slice(&learned::SCORE_MODEL[..n]);
        damaged[n / 2] ^= 0x10;
        second.reload(&damaged[..n])
    };
    match result {
        Ok(()) => defmt::info!(
            "score network: {=usize}-byte model file loaded, CRC-32 and shapes verified; threshold {=f32} nats",
            learned::SCORE_MODEL.len(),
            SCORE_THRESHOLD
        ),
        Err(flowscore::Error::Format(why)) => {
            defmt::error!("score network's model refused: {=str}", why);
            fail("the score network's model file is damaged")
        }
        Err(_) => fail("the score network's model is valid"),
    }
}

/// The hash the run must reproduce: the host's (a wrong one with `planted-failure`).
#[cfg(not(feature = "planted-failure"))]
const EXPECTED: u64 = EXPECTED_HASH;
#[cfg(feature = "planted-failure")]
const EXPECTED: u64 = EXPECTED_HASH ^ 1;

/// An address with nothing behind it in the mps2-an386 memory map.
#[cfg(feature = "planted-fault")]
const UNMAPPED: usize = 0x6000_0000;

/// Samples timed for the per-sample instruction counts.
const TIMED_SAMPLES: u32 = 256;
/// Euler–Maruyama steps timed for the per-step instruction count.
const TIMED_STEPS: u32 = 1000;

/// Instructions per SysTick tick ×1000 (from [`counter::calibrate`]).
static mut MILLI_PER_TICK: u32 = 40_000;

fn instructions(ticks: u32) -> u64 {
    // SAFETY: written once in `main` before any reader; single-threaded.
    let milli = unsafe { MILLI_PER_TICK };
    ticks as u64 * milli as u64 / 1000
}

/// Instruction counts of the footprint report (not part of the hashed scenario). Not inlined,
/// so that its locals and the scenario's share the stack in turn rather than side by side in
/// `main`'s frame.
#[inline(never)]
fn measure(
    models: &Models,
    detector: &LearnedDetector<&'static SensorFlowLayers>,
    second: &SecondOpinion,
) {
    // (e) the second opinion: the score network's probability-flow log-likelihood of a reading
    // on the ring and of one at its centre.
    for point in [[2.0f32, 0.0], [0.0, 0.0]] {
        let start = counter::ticks();
        let (lp, nfe) = check(second.log_prob(black_box(point)), "score-network solve");
        let n = instructions(counter::ticks().wrapping_sub(start));
        defmt::info!(
            "instructions: score-network (2+16-16-16-2) probability-flow log-likelihood of ({=f32}, {=f32}) {=u64} ({=u32} NFE, {=u64} per NFE), log p = {=f32}",
            point[0],
            point[1],
            n,
            nfe,
            n / u64::from(nfe.max(1)),
            lp
        );
    }

    // (d) the learned detector: one reading's log-likelihood under the 4-layer MAF.
    let start = counter::ticks();
    for i in 0..TIMED_SAMPLES {
        let x = [black_box(2.0f32) - i as f32 / 256.0, 0.25];
        black_box(detector.log_prob(x).ok());
    }
    let learned = instructions(counter::ticks().wrapping_sub(start)) / TIMED_SAMPLES as u64;
    defmt::info!(
        "instructions: learned MAF (4 layers, MADE 2-16-16-4) log-likelihood {=u64} per reading",
        learned
    );

    // (a) planar K = 10, D = 2: sample and log-prob in one pass, one stream reused.
    let mut rng = Streams::<f32>::new(SAMPLE_SEED, 0);
    let start = counter::ticks();
    for _ in 0..TIMED_SAMPLES {
        black_box(models.flow.sample_and_log_prob::<f32, _, 2>(&mut rng));
    }
    let planar = instructions(counter::ticks().wrapping_sub(start)) / TIMED_SAMPLES as u64;
    // The same with a fresh per-sample stream (the reproducible-batch path).
    let start = counter::ticks();
    for i in 0..TIMED_SAMPLES {
        let mut rng = Streams::<f32>::new(SAMPLE_SEED, black_box(i as u64));
        black_box(models.flow.sample_and_log_prob::<f32, _, 2>(&mut rng));
    }
    let planar_stream = instructions(counter::ticks().wrapping_sub(start)) / TIMED_SAMPLES as u64;
    defmt::info!(
        "instructions: planar K=10 D=2 sample_and_log_prob {=u64} per sample ({=u64} with a fresh stream per sample)",
        planar,
        planar_stream
    );

    // (b) one reverse-SDE Euler–Maruyama step on the 8-component mixture (VP, exact score).
    let score = &models.score;
    let em = check(EulerMaruyama::new(Vp::default(), TIMED_STEPS, SAMPLING_EPS_VP), "EM settings");
    let mut x = [0.0f32; 2];
    let start = counter::ticks();
    em.run(score, black_box(&mut x), &mut rng);
    let em_step = instructions(counter::ticks().wrapping_sub(start)) / TIMED_STEPS as u64;
    black_box(x);
    defmt::info!("instructions: Euler-Maruyama step, 8-component mixture {=u64} per step", em_step);

    // (c) a full probability-flow log-likelihood of one point (a point on the ring, one between
    // two components, and the ring's centre), exact divergence by duals.
    for (i, point) in [[2.0f32, 0.0], [1.0, 1.5], [0.0, 0.0]].into_iter().enumerate() {
        let start = counter::ticks();
        let (lp, nfe) =
            check(models.mixture_log_prob(black_box(point), i as u64), "likelihood solve");
        let n = instructions(counter::ticks().wrapping_sub(start));
        defmt::info!(
            "instructions: probability-flow log-likelihood of ({=f32}, {=f32}) {=u64} ({=u32} NFE, {=u64} per NFE), log p = {=f32}",
            point[0],
            point[1],
            n,
            nfe,
            n / u64::from(nfe.max(1)),
            lp
        );
    }
}

#[entry]
fn main() -> ! {
    stack::paint();
    #[cfg(feature = "planted-fault")]
    {
        // SAFETY: none: this read of an unmapped address is meant to fault.
        let v = unsafe { core::ptr::read_volatile(UNMAPPED as *const u32) };
        black_box(v);
    }
    let peripherals = some(cortex_m::Peripherals::take(), "peripherals are taken once");
    counter::start(peripherals.SYST);
    let milli_per_tick = counter::calibrate();
    // SAFETY: the only write, before any reader; single-threaded.
    unsafe { MILLI_PER_TICK = milli_per_tick };

    let models = check(Models::new(), "the models are valid");
    // The score network first: with `planted-corruption` its damaged copy must be refused.
    let mut second = SecondOpinion::zeroed();
    load_second_opinion(&mut second);
    let detector = verified_detector();
    let construction_stack = stack::high_water_mark();
    stack::paint();

    let mut led = some(FpgaLed::new(0), "LED 0 exists");
    let started = counter::ticks();
    let summary = check(
        flowscore_scenario::run(
            &models,
            &detector,
            &second,
            SimulatedSensor::new(SENSOR_SEED),
            &mut led,
            &mut DefmtReport,
        ),
        "the scenario's models and sensor work",
    );
    let ticks = counter::ticks().wrapping_sub(started);
    let run_stack = stack::high_water_mark();

    defmt::info!(
        "sensor: {=u32} readings ({=u32} probability-flow NFE), {=u32} flagged, {=u32} of {=u32} injected anomalies found",
        summary.readings,
        summary.nfe,
        summary.flagged,
        summary.true_positives,
        summary.injected
    );
    defmt::info!(
        "learned detector: {=u32} readings, {=u32} of {=u32} injected anomalies found, {=u32} false alarms on {=u32} normal readings; mean normal log-likelihood {=f32} nats",
        summary.learned_readings,
        summary.learned_found,
        summary.learned_injected,
        summary.learned_false_alarms,
        summary.learned_readings - summary.learned_injected,
        summary.learned_mean_normal_log_prob
    );
    defmt::info!(
        "second opinion (score network, probability-flow ODE): {=u32} of {=u32} flagged readings confirmed, {=u32} of them injected anomalies; {=u32} network evaluations",
        summary.confirmed_anomalies + summary.confirmed_false_alarms,
        summary.second_looks,
        summary.confirmed_anomalies,
        summary.second_nfe
    );
    defmt::info!(
        "samples: Euler-Maruyama mean ({=f32}, {=f32}), mean radius {=f32}; annealed Langevin mean radius {=f32}; planar flow mean log-prob {=f32}",
        summary.em_mean[0],
        summary.em_mean[1],
        summary.em_radius,
        summary.langevin_radius,
        summary.flow_mean_log_prob
    );
    defmt::info!(
        "scenario: {=u32} numbers, {=u64} instructions",
        summary.values,
        instructions(ticks)
    );
    defmt::info!("hash: {=u64:#018x}", summary.hash);

    measure(&models, &detector, &second);
    defmt::info!(
        "stack: peak {=u32} bytes building the models, {=u32} bytes running the scenario and the timings ({=u32} instructions per 1000 SysTick ticks)",
        construction_stack,
        stack::high_water_mark().max(run_stack),
        milli_per_tick
    );
    if summary.hash != EXPECTED {
        defmt::error!("expected hash {=u64:#018x}", EXPECTED);
        fail("the hash differs from the host's");
    }
    defmt::info!("hash matches the host's: ok");
    exit(EXIT_OK)
}
