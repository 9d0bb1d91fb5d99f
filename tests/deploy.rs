//! The shipped docker-compose file is safe by default: with no token configured, the
//! service must not be reachable from other machines.

#[test]
fn docker_compose_publishes_the_port_on_loopback_only() {
    let compose = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docker-compose.yml")).unwrap();
    let ports: Vec<&str> = compose
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != "ports:")
        .skip(1)
        .take_while(|l| l.starts_with("- "))
        .collect();
    assert!(!ports.is_empty(), "a ports section");
    for p in ports {
        assert!(
            p.contains("\"127.0.0.1:"),
            "published beyond loopback without a token: {p}"
        );
    }
}
