//! mosquitto_pub: publish one message, or one per line of input, and exit.

fn main() {
    std::process::exit(mosquitto_rs::client::publisher::main());
}
