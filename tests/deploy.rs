//! The shipped docker-compose file is safe by default: with no token configured, the
//! service must not be reachable from other machines.

#[test]
fn docker_compose_publishes_the_port_on_loopback_only() {
    let compose = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docker-compose.yml")).unwrap();
    // Every `ports:` block, of every service and profile.
    let lines: Vec<&str> = compose.lines().map(str::trim).collect();
    let ports: Vec<&str> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| **l == "ports:")
        .flat_map(|(i, _)| lines[i + 1..].iter().take_while(|l| l.starts_with("- ")).copied())
        .collect();
    assert!(ports.len() >= 4, "the service and the three replicas: {ports:?}");
    for p in ports {
        assert!(
            p.contains("\"127.0.0.1:"),
            "published beyond loopback without a token: {p}"
        );
    }
}
