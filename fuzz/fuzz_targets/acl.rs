//! The ACL file (`acl_file`): the input up to the first NUL is the file,
//! the rest a topic checked against it for client "client" with user
//! "user" and with none, for each access.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mosquitto_rs::broker::security::{Access, Acl};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (file, topic) = text.split_once('\0').unwrap_or((&text, "a/b/c"));
    if let Ok(acl) = Acl::parse("fuzz_aclfile", file) {
        for access in [Access::Read, Access::Write, Access::Subscribe] {
            let _ = acl.check("client", Some("user"), topic, access);
            let _ = acl.check("client", None, topic, access);
        }
        let _ = acl.subscribe_allowed("client", Some("user"), topic);
    }
});
