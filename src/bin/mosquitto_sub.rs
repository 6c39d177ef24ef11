//! mosquitto_sub: subscribe to topics and print the messages received.

fn main() {
    std::process::exit(mosquitto_rs::client::subscriber::main());
}
