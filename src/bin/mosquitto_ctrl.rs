//! mosquitto_ctrl: manage a broker's dynamic security over MQTT.

fn main() {
    std::process::exit(mosquitto_rs::client::ctrl::main());
}
