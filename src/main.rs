fn main() {
    println!("nnlab");
}
