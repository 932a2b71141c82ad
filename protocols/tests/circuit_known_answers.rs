//! AES-128 and SHA-256 known answers through the Bristol reader and the bit-sliced
//! plaintext evaluator, alone and inside batches.

// Test helpers outside #[test] functions unwrap too; clippy.toml only covers the latter.
#![allow(clippy::unwrap_used)]

use aes::Aes128;
use aes::cipher::{BlockCipherEncrypt, KeyInit};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sha2::{Digest, Sha256};
use tessera_protocols::circuit::{Circuit, bristol, values};

fn load(name: &str) -> Circuit {
    let path = format!("{}/circuits/{name}", env!("CARGO_MANIFEST_DIR"));
    bristol::read_file(&path).unwrap()
}

const AES_KEY: &str = "000102030405060708090a0b0c0d0e0f";
const AES_PT: &str = "00112233445566778899aabbccddeeff";
const AES_CT: &str = "69c4e0d86a7b0430d8cdb78070b4c55a";

const SHA_IV: &str = "6a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19";
const SHA_ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

/// The padded single block of a message shorter than 56 bytes, as hex.
fn pad_one_block(msg: &[u8]) -> String {
    assert!(msg.len() < 56);
    let mut block = [0u8; 64];
    block[..msg.len()].copy_from_slice(msg);
    block[msg.len()] = 0x80;
    block[56..].copy_from_slice(&(8 * msg.len() as u64).to_be_bytes());
    hex::encode(block)
}

#[test]
fn aes_128_fips197_c1() {
    let aes = load("aes_128.txt");
    assert_eq!(aes.input_widths(), &[128, 128]);
    assert_eq!(aes.output_widths(), vec![128]);
    let out = aes.eval_hex(&[&[AES_KEY], &[AES_PT]]).unwrap();
    assert_eq!(out, vec![vec![AES_CT.to_string()]]);
}

#[test]
fn aes_128_batch_matches_reference_and_known_answer() {
    let aes = load("aes_128.txt");
    let mut rng = StdRng::seed_from_u64(1);
    let n = 100;
    let mut keys: Vec<[u8; 16]> = (0..n).map(|_| rng.random()).collect();
    let mut pts: Vec<[u8; 16]> = (0..n).map(|_| rng.random()).collect();
    // The FIPS-197 vector in the middle of the batch, past the first 64-bit word.
    keys[70] = hex::decode(AES_KEY).unwrap().try_into().unwrap();
    pts[70] = hex::decode(AES_PT).unwrap().try_into().unwrap();
    let out = aes.eval_bytes(&[&keys, &pts]).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].len(), n);
    for j in 0..n {
        let mut block = aes::Block::from(pts[j]);
        Aes128::new(&keys[j].into()).encrypt_block(&mut block);
        assert_eq!(out[0][j], block.to_vec(), "instance {j}");
    }
    assert_eq!(hex::encode(&out[0][70]), AES_CT);
}

#[test]
fn sha256_compression_abc() {
    let sha = load("sha256.txt");
    assert_eq!(sha.input_widths(), &[512, 256]);
    assert_eq!(
        pad_one_block(b"abc"),
        format!("61626380{}{}", "00".repeat(52), "0000000000000018")
    );
    let out = sha
        .eval_hex(&[&[pad_one_block(b"abc").as_str()], &[SHA_IV]])
        .unwrap();
    assert_eq!(out, vec![vec![SHA_ABC.to_string()]]);
}

#[test]
fn sha256_batch_matches_reference() {
    let sha = load("sha256.txt");
    let mut rng = StdRng::seed_from_u64(2);
    let n = 70;
    let msgs: Vec<Vec<u8>> = (0..n)
        .map(|j| {
            if j == 65 {
                b"abc".to_vec()
            } else {
                let len = rng.random_range(0..56);
                (0..len).map(|_| rng.random()).collect()
            }
        })
        .collect();
    let blocks: Vec<String> = msgs.iter().map(|m| pad_one_block(m)).collect();
    let blocks: Vec<&str> = blocks.iter().map(String::as_str).collect();
    let ivs = vec![SHA_IV; n];
    let out = sha.eval_hex(&[&blocks, &ivs]).unwrap();
    for (j, m) in msgs.iter().enumerate() {
        assert_eq!(out[0][j], hex::encode(Sha256::digest(m)), "instance {j}");
    }
    assert_eq!(out[0][65], SHA_ABC);
}

#[test]
fn reference_circuit_costs() {
    let aes = load("aes_128.txt").cost();
    assert_eq!(
        (aes.gates(), aes.and_gates, aes.and_depth),
        (36_663, 6_400, 60)
    );
    assert_eq!((aes.input_bits, aes.output_bits), (256, 128));
    let sha = load("sha256.txt").cost();
    assert_eq!(
        (sha.gates(), sha.and_gates, sha.and_depth),
        (135_073, 22_573, 1_607)
    );
    assert_eq!((sha.input_bits, sha.output_bits), (768, 256));
}

#[test]
fn hex_and_bytes_follow_the_bristol_bit_order() {
    // Wire 0 is the least significant bit of the last byte.
    let m = values::from_hex(&["0102"], 16).unwrap();
    assert!(m.get(1, 0) && m.get(8, 0));
    assert_eq!(m.as_words().iter().map(|w| w.count_ones()).sum::<u32>(), 2);
    assert_eq!(values::to_u64(&m).unwrap(), vec![0x0102]);
    assert_eq!(
        values::to_hex(&values::from_u64(&[0x0102], 16).unwrap()),
        vec!["0102"]
    );
}
