//! mosquitto_rr: publish a request and print the response.

fn main() {
    std::process::exit(mosquitto_rs::client::rr::main());
}
