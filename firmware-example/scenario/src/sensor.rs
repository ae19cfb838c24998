//! A two-axis sensor on an I²C bus, and a simulated device that replays a deterministic signal
//! with injected anomalies.
//!
//! The driver ([`Sensor`]) is generic over `embedded_hal::i2c::I2c`, so on a board it runs over
//! the HAL's bus; under QEMU (and in the host test) [`SimulatedSensor`] sits behind the same trait.
//! Register map of the device: `REG_DATA` returns X then Y as big-endian `i16` counts, and each
//! read of it advances to the next sample.

use embedded_hal::i2c::{
    ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation, SevenBitAddress,
};

/// The device's 7-bit I²C address.
pub const SENSOR_ADDRESS: u8 = 0x48;
/// The data register (X, Y as big-endian i16).
pub const REG_DATA: u8 = 0x00;
/// The identity register (reads [`SENSOR_ID`]).
pub const REG_ID: u8 = 0x0F;
/// The value of the identity register.
pub const SENSOR_ID: u8 = 0xA5;
/// Counts per unit: 2¹⁰, so a count converts to `f32` exactly.
pub const COUNTS_PER_UNIT: f32 = 1024.0;

/// Readings of the simulated signal before it repeats.
pub const SIGNAL_PERIOD: u32 = 64;
/// Readings (within a period) at which the device injects an anomaly.
pub const ANOMALY_AT: [u32; 4] = [9, 23, 40, 57];

/// 2048·(cos, sin)(2πk/8), rounded: the 8 points of the radius-2 ring the normal signal visits.
const RING: [(i16, i16); 8] = [
    (2048, 0),
    (1448, 1448),
    (0, 2048),
    (-1448, 1448),
    (-2048, 0),
    (-1448, -1448),
    (0, -2048),
    (1448, -1448),
];

/// Anomalous readings, in counts: far outside the ring, or in its empty centre.
const ANOMALIES: [(i16, i16); 4] = [(6144, -5120), (0, 0), (-7168, 1024), (3072, 6144)];

/// Half-width of the jitter around a ring point, in counts (±0.25 units).
const JITTER_COUNTS: u32 = 256;

/// The simulated device's error: only a wrong address or register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimError {
    /// Nobody answers at that address.
    NoDevice,
    /// The register pointer names no register.
    BadRegister,
}

impl embedded_hal::i2c::Error for SimError {
    fn kind(&self) -> ErrorKind {
        match self {
            SimError::NoDevice => ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address),
            SimError::BadRegister => ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data),
        }
    }
}

/// The simulated device: integer arithmetic only, so it is the same on every target.
#[derive(Clone, Debug)]
pub struct SimulatedSensor {
    index: u32,
    noise: u32,
    register: u8,
}

impl SimulatedSensor {
    /// A device at the start of its signal; `noise_seed` seeds the jitter.
    pub const fn new(noise_seed: u32) -> Self {
        Self { index: 0, noise: noise_seed | 1, register: REG_DATA }
    }

    /// Whether the reading with this index is an injected anomaly.
    pub fn is_anomaly(index: u32) -> bool {
        ANOMALY_AT.contains(&(index % SIGNAL_PERIOD))
    }

    /// Next jitter in `[-JITTER_COUNTS, JITTER_COUNTS]` (xorshift32, Marsaglia 2003).
    fn jitter(&mut self) -> i16 {
        let mut x = self.noise;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.noise = x;
        ((x % (2 * JITTER_COUNTS + 1)) as i32 - JITTER_COUNTS as i32) as i16
    }

    /// The next sample, in counts.
    fn next_sample(&mut self) -> (i16, i16) {
        let i = self.index % SIGNAL_PERIOD;
        self.index = self.index.wrapping_add(1);
        let (dx, dy) = (self.jitter(), self.jitter());
        if let Some(k) = ANOMALY_AT.iter().position(|&a| a == i) {
            let (x, y) = ANOMALIES[k % ANOMALIES.len()];
            return (x.saturating_add(dx), y.saturating_add(dy));
        }
        // Three readings near each ring point, then on to the next one.
        let (x, y) = RING[(i as usize / 3) % RING.len()];
        (x.saturating_add(dx), y.saturating_add(dy))
    }
}

impl ErrorType for SimulatedSensor {
    type Error = SimError;
}

impl I2c<SevenBitAddress> for SimulatedSensor {
    fn transaction(
        &mut self,
        address: SevenBitAddress,
        operations: &mut [Operation<'_>],
    ) -> Result<(), Self::Error> {
        if address != SENSOR_ADDRESS {
            return Err(SimError::NoDevice);
        }
        for op in operations {
            match op {
                Operation::Write(bytes) => {
                    if let Some(&reg) = bytes.first() {
                        if reg != REG_DATA && reg != REG_ID {
                            return Err(SimError::BadRegister);
                        }
                        self.register = reg;
                    }
                }
                Operation::Read(buf) => {
                    if self.register == REG_ID {
                        buf.fill(SENSOR_ID);
                    } else {
                        let (x, y) = self.next_sample();
                        let [x0, x1] = x.to_be_bytes();
                        let [y0, y1] = y.to_be_bytes();
                        for (dst, src) in buf.iter_mut().zip([x0, x1, y0, y1]) {
                            *dst = src;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Errors of the sensor driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SensorError<E> {
    /// The bus failed.
    Bus(E),
    /// The identity register did not read [`SENSOR_ID`].
    WrongId(u8),
}

/// Driver of the two-axis sensor over any `embedded-hal` 1.0 I²C bus.
#[derive(Debug)]
pub struct Sensor<I> {
    bus: I,
    address: u8,
}

impl<I: I2c> Sensor<I> {
    /// Probes the device's identity register and returns the driver.
    pub fn new(mut bus: I, address: u8) -> Result<Self, SensorError<I::Error>> {
        let mut id = [0u8];
        bus.write_read(address, &[REG_ID], &mut id).map_err(SensorError::Bus)?;
        if id[0] != SENSOR_ID {
            return Err(SensorError::WrongId(id[0]));
        }
        Ok(Self { bus, address })
    }

    /// One reading (x, y) in units (counts / 2¹⁰, exact).
    pub fn read(&mut self) -> Result<[f32; 2], SensorError<I::Error>> {
        let mut raw = [0u8; 4];
        self.bus.write_read(self.address, &[REG_DATA], &mut raw).map_err(SensorError::Bus)?;
        let x = i16::from_be_bytes([raw[0], raw[1]]);
        let y = i16::from_be_bytes([raw[2], raw[3]]);
        Ok([f32::from(x) / COUNTS_PER_UNIT, f32::from(y) / COUNTS_PER_UNIT])
    }

    /// Gives the bus back.
    pub fn release(self) -> I {
        self.bus
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_reads_the_signal_and_its_anomalies() {
        let mut sensor = Sensor::new(SimulatedSensor::new(7), SENSOR_ADDRESS).unwrap();
        for i in 0..2 * SIGNAL_PERIOD {
            let [x, y] = sensor.read().unwrap();
            let r = (x * x + y * y).sqrt();
            if SimulatedSensor::is_anomaly(i) {
                assert!(!(1.5..=2.5).contains(&r), "anomaly {i} at radius {r}");
            } else {
                assert!((1.6..=2.4).contains(&r), "reading {i} at radius {r}");
            }
        }
    }

    #[test]
    fn wrong_address_is_an_error() {
        assert!(matches!(
            Sensor::new(SimulatedSensor::new(7), 0x10),
            Err(SensorError::Bus(SimError::NoDevice))
        ));
    }
}
