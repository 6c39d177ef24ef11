//! mosquitto_passwd: manage mosquitto password files.

fn main() {
    std::process::exit(mosquitto_rs::client::passwd::main());
}
