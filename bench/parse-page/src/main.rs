//! `parse-page ITERATIONS < page.json`: runs [`parse_page::parse_and_map`] on the page read
//! from standard input ITERATIONS times and prints the findings of one pass. Built for
//! wasm32-wasip2, it is the in-sandbox half of the benchmark's overhead figure.

use std::io::Read;

fn main() -> std::process::ExitCode {
    let iterations: u32 = match std::env::args().nth(1).map(|a| a.parse()) {
        Some(Ok(n)) => n,
        _ => {
            eprintln!("usage: parse-page ITERATIONS < page.json");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut body = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut body) {
        eprintln!("parse-page: cannot read the page: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let response = parse_page::answer(body);
    let mut findings = 0;
    for _ in 0..iterations {
        match parse_page::parse_and_map(&response) {
            Ok(n) => findings = n,
            Err(e) => {
                eprintln!("parse-page: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    println!("{findings}");
    std::process::ExitCode::SUCCESS
}
