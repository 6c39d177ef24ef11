//! `--help` and `--version` text, laid out like mosquitto's clients (the
//! same synopsis and one line per option) so that people and scripts that
//! know mosquitto's help find their way.

use super::options::Tool;
use crate::VERSION;

pub fn version_line(tool: Tool) -> String {
    format!(
        "{} version {VERSION} running on mosquitto-rs {VERSION}.",
        tool.name()
    )
}

const COMMON_OPTIONS: &str =
    " -A : local address to bind the outgoing connection to, to choose the network
      interface that is used.
 -c : ask for a persistent session (clean session off): the broker keeps the
      session and its subscriptions when this client disconnects.
      Requires -i. MQTT v5 clients can set how long the session lasts with -x.
 -d : print debug messages about the packets sent and received.
 -D : set an MQTT v5 property: -D command identifier value, e.g.
      -D publish user-property name value (implies -V 5).
 -h : host name or address of the broker. Default: localhost.
 -i : client id. By default the broker assigns one.
 -I : client id prefix; the process id is appended to make the client id.
      Handy with the broker's clientid_prefixes option.
 -k : keepalive interval in seconds. Default: 60. Also the time allowed for
      connecting to the broker.
 -L : give user name, password, host, port and topic as one URL:
      mqtt(s)://[username[:password]@]host[:port]/topic
";

const COMMON_TAIL: &str = " --help : print this help and exit.
 --nodelay : turn off Nagle's algorithm, sending packets at once at the cost
             of more packets on the network.
 --quiet : do not print error messages.
 --unix : connect over the given unix domain socket instead of TCP,
          e.g. /tmp/mosquitto.sock
 --will-payload : payload of the client's Will, which the broker publishes if
                  the client goes away without disconnecting. Empty if not given.
 --will-qos : QoS of the Will.
 --will-retain : make the Will a retained message.
 --will-topic : topic of the Will.
 --cafile : file of trusted CA certificates, to turn on TLS.
 --capath : directory of trusted CA certificates, to turn on TLS.
 --cert : client certificate, for brokers that ask for one.
 --key : private key of the client certificate.
 --keyform : format of the key file: pem (engine is not supported).
 --ciphers : OpenSSL cipher list to allow (TLS 1.2 and earlier).
 --tls-version : TLS version to use: tlsv1.3, tlsv1.2 or tlsv1.1.
                 Default: TLS 1.2 or later.
 --insecure : skip checking that the broker's certificate matches its host name.
              Unsafe: only for testing.
 --tls-alpn : TLS application protocol (ALPN) to ask the broker for.
 --tls-engine : OpenSSL engine to use (not supported by this version).
 --tls-engine-kpass-sha1 : SHA1 of the key password for the engine
                           (not supported by this version).
 --tls-use-os-certs : trust the operating system's CA certificates.
 --psk : pre-shared key in hexadecimal (no leading 0x), for TLS-PSK.
 --psk-identity : client identity for TLS-PSK.
 --proxy : SOCKS5 proxy URL of the form:
           socks5h://[username[:password]@]hostname[:port]
           Only \"none\" and \"username\" authentication is supported.

See https://mosquitto.org/ for more information.
";

pub fn usage(tool: Tool) -> String {
    match tool {
        Tool::Pub => pub_usage(),
        Tool::Sub => sub_usage(),
        Tool::Rr => rr_usage(),
    }
}

fn pub_usage() -> String {
    format!(
        "\
mosquitto_pub is a simple MQTT client that publishes one message, or one per line
of input, on a single topic and exits.
{}

Usage: mosquitto_pub {{[-h host] [--unix path] [-p port] [-u username] [-P password] -t topic | -L URL}}
                     {{-f file | -l | -n | -m message}}
                     [-c] [-k keepalive] [-q qos] [-r] [--repeat N] [--repeat-delay time] [-x session-expiry]
                     [-A bind_address] [--nodelay]
                     [-i id] [-I id_prefix]
                     [-d] [--quiet]
                     [-M max_inflight]
                     [-u username [-P password]]
                     [--will-topic [--will-payload payload] [--will-qos qos] [--will-retain]]
                     [{{--cafile file | --capath dir}} [--cert file] [--key file]
                       [--ciphers ciphers] [--insecure]
                       [--tls-alpn protocol]
                       [--tls-engine engine] [--keyform keyform] [--tls-engine-kpass-sha1]]
                       [--tls-use-os-certs]
                     [--psk hex-key --psk-identity identity [--ciphers ciphers]]
                     [--proxy socks-url]
                     [--property command identifier value]
                     [-D command identifier value]
       mosquitto_pub --help

{COMMON_OPTIONS} -f : publish the contents of this file as the message.
 -l : read standard input and publish each line as a separate message.
 -m : the message to publish.
 -M : how many QoS 1 and 2 messages may be unacknowledged at once. Default: 20.
 -n : publish an empty (zero length) message.
 -p : broker port. Default: 1883 (8883 for MQTT over TLS).
 -P : password.
 -q : quality of service of the messages: 0, 1 or 2. Default: 0.
 -r : ask the broker to retain the message.
 -s : read all of standard input and publish it as one message.
 -t : topic to publish on.
 -u : user name.
 -V : MQTT protocol version: mqttv5, mqttv311 or mqttv31. Default: mqttv311.
 -x : MQTT v5 session expiry interval in seconds (0-4294967294), or -1,
      4294967295 or ∞ for a session that never expires. Default: -1 with -c,
      0 otherwise.
 --repeat : with -f, -m, -n or -s, publish the message N times.
 --repeat-delay : with --repeat, seconds to wait between publishes. Default: 0.
{COMMON_TAIL}",
        version_line(Tool::Pub)
    )
}

fn sub_usage() -> String {
    format!(
        "\
mosquitto_sub is a simple MQTT client that subscribes to one or more topics and
prints the messages it receives.
{}

Usage: mosquitto_sub {{[-h host] [--unix path] [-p port] [-u username] [-P password] -t topic | -L URL [-t topic]}}
                     [-c] [-k keepalive] [-q qos] [-x session-expiry-interval]
                     [-C msg_count] [-E] [-R] [--retained-only] [--remove-retained] [-T filter_out] [-U topic ...]
                     [-F format]
                     [-W timeout_secs]
                     [-A bind_address] [--nodelay]
                     [-i id] [-I id_prefix]
                     [-d] [-N] [--quiet] [-v]
                     [--will-topic [--will-payload payload] [--will-qos qos] [--will-retain]]
                     [{{--cafile file | --capath dir}} [--cert file] [--key file]
                       [--ciphers ciphers] [--insecure]
                       [--tls-alpn protocol]
                       [--tls-engine engine] [--keyform keyform] [--tls-engine-kpass-sha1]]
                       [--tls-use-os-certs]
                     [--psk hex-key --psk-identity identity [--ciphers ciphers]]
                     [--proxy socks-url]
                     [-D command identifier value]
       mosquitto_sub --help

{COMMON_OPTIONS} -C : exit after this many messages have been received.
 -E : exit as soon as the broker has acknowledged the subscriptions.
 -F : print each message with this format (see the manual page for the % and
      @ specifiers).
 -N : do not print a newline after each message.
 -p : broker port. Default: 1883 (8883 for MQTT over TLS).
 -P : password.
 -q : quality of service to subscribe with: 0, 1 or 2. Default: 0.
 -R : do not print stale messages (those the broker sends as retained).
 -t : topic filter to subscribe to. May be given more than once.
 -T : topic filter whose messages are not printed. May be given more than once.
 -u : user name.
 -U : topic filter to unsubscribe from. May be given more than once.
 -v : verbose: print the topic before each message.
 -V : MQTT protocol version: mqttv5, mqttv311 or mqttv31. Default: mqttv311.
 -W : give up and exit after this many seconds.
 -x : MQTT v5 session expiry interval in seconds (0-4294967294), or -1,
      4294967295 or ∞ for a session that never expires. Default: -1 with -c,
      0 otherwise.
 --nolocal : MQTT v5: do not receive the messages this client publishes itself.
 --pretty : with the JSON output formats, print indented JSON instead of one line.
 --random-filter : print only this percentage of the messages received, chosen
                   at random: 100 prints all, 50.0 about half.
 --retain-handling : MQTT v5 retain handling: 0 send retained messages (default),
                     1 only for a new subscription, 2 never.
 --retained-only : print only retained messages, and exit at the first message
                   that is not retained.
 --remove-retained : clear each retained message received by publishing an
                     empty retained message to its topic. Use -T to keep some.
{COMMON_TAIL}",
        version_line(Tool::Sub)
    )
}

fn rr_usage() -> String {
    format!(
        "\
mosquitto_rr is an MQTT client that publishes a request message and waits for
the response. It speaks MQTT v5 by default, using its request/response
properties; with -V mqttv311 it works with MQTT v3.1.1 brokers too.
{}

Usage: mosquitto_rr {{[-h host] [--unix path] [-p port] [-u username] [-P password] -t topic | -L URL}} -e response-topic
                    {{-f file | -n | -m message | -s}}
                    [-c] [-k keepalive] [-q qos] [-R] [-x session-expiry-interval]
                    [-F format]
                    [-W timeout_secs]
                    [-A bind_address] [--nodelay]
                    [-i id] [-I id_prefix]
                    [-d] [-N] [--quiet] [-v]
                    [--will-topic [--will-payload payload] [--will-qos qos] [--will-retain]]
                    [{{--cafile file | --capath dir}} [--cert file] [--key file]
                      [--ciphers ciphers] [--insecure]
                      [--tls-alpn protocol]
                      [--tls-use-os-certs]
                    [--psk hex-key --psk-identity identity [--ciphers ciphers]]
                    [--proxy socks-url]
                    [-D command identifier value]
       mosquitto_rr --help

{COMMON_OPTIONS} -e : response topic: subscribed to before the request is sent, and sent
      with the request (MQTT v5) so that the responder knows where to answer.
 -f : send the contents of this file as the request.
 -F : print the response with this format (as mosquitto_sub's -F).
 -m : the request message.
 -n : send an empty request.
 -N : do not print a newline after the response.
 -p : broker port. Default: 1883 (8883 for MQTT over TLS).
 -P : password.
 -q : quality of service for the request and the subscription. Default: 0.
 -s : read all of standard input and send it as the request.
 -t : topic to send the request to.
 -u : user name.
 -v : verbose: print the topic before the response.
 -V : MQTT protocol version: mqttv5, mqttv311 or mqttv31. Default: mqttv5.
 -W : give up after this many seconds without a response (exit status 27).
 -x : MQTT v5 session expiry interval in seconds (0-4294967294), or -1,
      4294967295 or ∞ for a session that never expires. Default: -1 with -c,
      0 otherwise.
 --pretty : with the JSON output formats, print indented JSON.
{COMMON_TAIL}",
        version_line(Tool::Rr)
    )
}
