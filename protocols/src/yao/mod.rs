//! Yao's garbled circuits (the Y sharing): half-gates with free-XOR and
//! point-and-permute (Zahur, Rosulek, Evans, EUROCRYPT 2015), hashing with the
//! fixed-key-AES TCCR hash of Guo, Katz, Wang and Yu (S&P 2020).
//!
//! Party 0 garbles, party 1 evaluates. The garbler's input labels are sent directly;
//! the evaluator's are obtained with random OTs from the dealer, derandomised online, so
//! no public-key operation happens online. Tables are produced on a worker thread in
//! layer order and streamed in 1 MiB frames while garbling continues; the evaluator
//! evaluates them as they arrive. A party with several threads (`--threads`,
//! [`tessera_core::Channel::threads`]) garbles or evaluates several chunks of instances
//! at once, with the same tables, frames and outputs as one thread. Values may stay garbled between circuits (see
//! [`ZeroLabels`] / [`ActiveLabels`]).
//!
//! Security model: semi-honest parties, non-colluding dealer. Δ, zero labels and
//! active labels never appear in `Debug` output or logs.
//!
//! Costs: 2 blocks (32 bytes) per AND gate per instance; XOR, INV, copies and
//! constants are free; 16 bytes per garbler input bit, 32 bytes + 1 bit per evaluator
//! input bit, 1 bit per output bit revealed.

mod core;
mod parallel;
mod session;

pub use core::{Delta, PUBLIC_LABEL, Scratch, TABLE_BLOCKS_PER_AND, eval_chunk, garble_chunk};
pub use session::{
    ActiveLabels, Evaluator, Garbler, TableSink, ZeroLabels, evaluate_stream,
    evaluator_input_bytes, garble_stream, garbler_input_bytes, reveal_bytes, table_bytes,
    table_bytes_compiled, table_frames,
};
