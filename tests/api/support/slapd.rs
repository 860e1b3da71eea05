//! A real OpenLDAP server (Debian's `slapd`) for the directory tests: a
//! generated configuration and LDIF in a temp folder, a free loopback
//! port, StartTLS with a certificate from a test CA made with the
//! `openssl` command, never the system service. Changes during a test go
//! through the `ldap3` crate, bound as the directory's root.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ldap3::{LdapConnAsync, Mod};

use super::process::free_port;

pub const BASE: &str = "dc=example,dc=com";
pub const PEOPLE: &str = "ou=people,dc=example,dc=com";
pub const GROUPS: &str = "ou=groups,dc=example,dc=com";
pub const ROOT_DN: &str = "cn=root,dc=example,dc=com";
const ROOT_PASSWORD: &str = "root secret for the test directory";
pub const SERVICE_DN: &str = "cn=tessera,ou=services,dc=example,dc=com";
pub const SERVICE_PASSWORD: &str = "tessera service password";
pub const ADMIN_GROUP: &str = "jira-administrators";

/// A person in the test directory.
pub struct Person<'a> {
    pub uid: &'a str,
    pub password: &'a str,
    pub mail: Option<&'a str>,
    pub cn: &'a str,
    pub given_name: &'a str,
    pub sn: &'a str,
}

/// Who is in the directory at start: jane (an admin), bob, and `admin`
/// (a directory person whose name the local bootstrap admin holds).
pub const JANE: Person<'static> = Person {
    uid: "jane",
    password: "jane's directory password",
    mail: Some("jane@example.com"),
    cn: "Jane Doe",
    given_name: "Jane",
    sn: "Doe",
};
pub const BOB: Person<'static> = Person {
    uid: "bob",
    password: "bob's directory password",
    mail: Some("bob@example.com"),
    cn: "Bob Stone",
    given_name: "Bob",
    sn: "Stone",
};
pub const DIRECTORY_ADMIN: Person<'static> = Person {
    uid: "admin",
    password: "the directory's own admin password",
    mail: Some("it-admin@example.com"),
    cn: "IT Admin",
    given_name: "IT",
    sn: "Admin",
};

pub struct Slapd {
    /// `ldap://127.0.0.1:PORT` (StartTLS with `ca_file`).
    pub url: String,
    pub port: u16,
    /// `ldaps://127.0.0.1:PORT` (TLS from the first byte).
    pub ldaps_url: String,
    ldaps_port: u16,
    pub ca_file: PathBuf,
    dir: PathBuf,
    child: Option<std::process::Child>,
}

/// Where slapd is: `TESSERA_SLAPD`, else Debian's path.
fn slapd_binary() -> PathBuf {
    let path =
        std::env::var_os("TESSERA_SLAPD").map_or_else(|| PathBuf::from("/usr/sbin/slapd"), PathBuf::from);
    assert!(
        path.exists(),
        "the directory tests need OpenLDAP's slapd: apt-get install slapd ldap-utils (or run ./scripts/test, which installs them)"
    );
    path
}

/// The test CA and a server certificate for 127.0.0.1, made once per run.
fn certificates() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("tessera-ldap-ca-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let run = |args: &[&str]| {
            let output = Command::new("openssl").args(args).current_dir(&dir).output().expect("openssl runs");
            assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        };
        run(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Tessera test directory CA",
        ]);
        run(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ]);
        // slapd may drop privileges; the key must stay readable to it.
        let _ = Command::new("chmod").args(["644", "server.key"]).current_dir(&dir).status();
        dir
    })
}

/// An extra schema: Active Directory's `sAMAccountName` and
/// `userAccountControl`, so the AD settings run against a real server.
const AD_SCHEMA: &str = "\
attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
  EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.55555.1.1 NAME 'testADAccount' AUXILIARY
  MAY ( sAMAccountName $ userAccountControl ) )
";

impl Slapd {
    /// A directory with jane (in jira-administrators), bob and `admin`.
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("tessera-slapd-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(dir.join("db")).unwrap();
        let certs = certificates();
        std::fs::write(dir.join("ad.schema"), AD_SCHEMA).unwrap();
        let config = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             include /etc/ldap/schema/nis.schema\n\
             include {dir}/ad.schema\n\
             pidfile {dir}/slapd.pid\n\
             modulepath /usr/lib/ldap\n\
             moduleload back_mdb\n\
             TLSCACertificateFile {certs}/ca.pem\n\
             TLSCertificateFile {certs}/server.pem\n\
             TLSCertificateKeyFile {certs}/server.key\n\
             database mdb\n\
             maxsize 104857600\n\
             suffix \"{BASE}\"\n\
             rootdn \"{ROOT_DN}\"\n\
             rootpw \"{ROOT_PASSWORD}\"\n\
             directory {dir}/db\n\
             access to attrs=userPassword by anonymous auth by self write by * none\n\
             access to * by users read by anonymous auth\n",
            dir = dir.display(),
            certs = certs.display(),
        );
        std::fs::write(dir.join("slapd.conf"), config).unwrap();
        let mut ldif = format!(
            "dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n\
             dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups\n\n\
             dn: ou=services,{BASE}\nobjectClass: organizationalUnit\nou: services\n\n\
             dn: {SERVICE_DN}\nobjectClass: person\ncn: tessera\nsn: service\nuserPassword: {SERVICE_PASSWORD}\n\n"
        );
        for person in [JANE, BOB, DIRECTORY_ADMIN] {
            ldif.push_str(&person_ldif(&person));
        }
        ldif.push_str(&format!(
            "dn: cn={ADMIN_GROUP},{GROUPS}\nobjectClass: groupOfNames\ncn: {ADMIN_GROUP}\nmember: uid=jane,{PEOPLE}\nmember: {SERVICE_DN}\n\n\
             dn: cn=jira-users,{GROUPS}\nobjectClass: groupOfNames\ncn: jira-users\nmember: uid=jane,{PEOPLE}\nmember: uid=bob,{PEOPLE}\n\n"
        ));
        std::fs::write(dir.join("data.ldif"), ldif).unwrap();
        let slapd = slapd_binary();
        let slapadd = slapd.with_file_name("slapadd");
        let output = Command::new(&slapadd)
            .args(["-f", "slapd.conf", "-l", "data.ldif"])
            .current_dir(&dir)
            .output()
            .expect("slapadd runs");
        assert!(output.status.success(), "slapadd: {}", String::from_utf8_lossy(&output.stderr));
        let port = free_port();
        let ldaps_port = std::iter::repeat_with(free_port).find(|p| *p != port).expect("a second port");
        let mut server = Self {
            url: format!("ldap://127.0.0.1:{port}"),
            port,
            ldaps_url: format!("ldaps://127.0.0.1:{ldaps_port}"),
            ldaps_port,
            ca_file: certs.join("ca.pem"),
            dir,
            child: None,
        };
        server.launch();
        server
    }

    fn launch(&mut self) {
        let child = Command::new(slapd_binary())
            .args([
                "-f",
                "slapd.conf",
                "-h",
                &format!("ldap://127.0.0.1:{}/ ldaps://127.0.0.1:{}/", self.port, self.ldaps_port),
                "-d",
                "0",
            ])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("slapd.log")).expect("slapd's log"))
            .spawn()
            .expect("slapd starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        for port in [self.port, self.ldaps_port] {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                let exited = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
                let log = || std::fs::read_to_string(self.dir.join("slapd.log")).unwrap_or_default();
                assert!(exited.is_none(), "slapd exited ({exited:?}): {}", log());
                assert!(Instant::now() < deadline, "slapd did not listen on {port} within 10 s: {}", log());
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Stops the server (the directory is down) until `restart`.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// The settings that point a server at this directory over StartTLS,
    /// with the scheduled sync off (tests sync by hand).
    pub fn configure(&self, raw: &mut tessera::config::RawSettings) {
        raw.ldap_url = Some(self.url.clone());
        raw.ldap_bind_dn = Some(SERVICE_DN.into());
        raw.ldap_bind_password = Some(tessera::config::SecretString::new(SERVICE_PASSWORD.into()));
        raw.ldap_user_base = Some(PEOPLE.into());
        raw.ldap_user_filter = Some("(objectClass=inetOrgPerson)".into());
        raw.ldap_admin_group = Some(ADMIN_GROUP.into());
        raw.ldap_group_base = Some(GROUPS.into());
        raw.ldap_disabled_filter = Some("(employeeType=disabled)".into());
        raw.ldap_ca_file = Some(self.ca_file.clone());
        raw.ldap_sync_interval = Some("off".into());
        // Generous, so a cold machine's first TLS handshake never decides a
        // test; the tests of the timeout set their own.
        raw.ldap_timeout = Some("20s".into());
    }

    async fn root(&self) -> ldap3::Ldap {
        let (connection, mut ldap) = LdapConnAsync::new(&self.url).await.expect("connect as root");
        ldap3::drive!(connection);
        ldap.simple_bind(ROOT_DN, ROOT_PASSWORD).await.unwrap().success().unwrap();
        ldap
    }

    /// Adds a person under ou=people.
    pub async fn add_person(&self, person: &Person<'_>) {
        let mut ldap = self.root().await;
        let dn = format!("uid={},{PEOPLE}", person.uid);
        let mut attributes = vec![
            ("objectClass", ["inetOrgPerson"].into_iter().collect()),
            ("uid", [person.uid].into_iter().collect()),
            ("cn", [person.cn].into_iter().collect()),
            ("givenName", [person.given_name].into_iter().collect()),
            ("sn", [person.sn].into_iter().collect()),
            ("userPassword", [person.password].into_iter().collect()),
        ];
        if let Some(mail) = person.mail {
            attributes.push(("mail", [mail].into_iter().collect()));
        }
        ldap.add(&dn, attributes).await.unwrap().success().unwrap();
    }

    /// Adds an Active Directory-shaped account (sAMAccountName, userAccountControl).
    pub async fn add_ad_account(&self, sam: &str, password: &str, mail: &str, user_account_control: u32) {
        let mut ldap = self.root().await;
        let dn = format!("cn={sam},{PEOPLE}");
        let control = user_account_control.to_string();
        let display_name = format!("{sam} (AD)");
        let attributes = vec![
            ("objectClass", ["inetOrgPerson", "testADAccount"].into_iter().collect()),
            ("cn", [sam].into_iter().collect()),
            ("sn", [sam].into_iter().collect()),
            ("sAMAccountName", [sam].into_iter().collect()),
            ("mail", [mail].into_iter().collect()),
            ("displayName", [display_name.as_str()].into_iter().collect()),
            ("userAccountControl", [control.as_str()].into_iter().collect()),
            ("userPassword", [password].into_iter().collect()),
        ];
        ldap.add(&dn, attributes).await.unwrap().success().unwrap();
    }

    /// Sets (replaces) one attribute of an entry.
    pub async fn set(&self, dn: &str, attribute: &str, value: &str) {
        let mut ldap = self.root().await;
        let values = [value].into_iter().collect();
        ldap.modify(dn, vec![Mod::Replace(attribute, values)]).await.unwrap().success().unwrap();
    }

    /// Removes a DN from a group's members.
    pub async fn remove_member(&self, group: &str, member_dn: &str) {
        let mut ldap = self.root().await;
        let dn = format!("cn={group},{GROUPS}");
        let values = [member_dn].into_iter().collect();
        ldap.modify(&dn, vec![Mod::Delete("member", values)]).await.unwrap().success().unwrap();
    }

    /// Creates a group with the given members.
    pub async fn add_group(&self, name: &str, members: &[&str]) {
        let mut ldap = self.root().await;
        let dn = format!("cn={name},{GROUPS}");
        let attributes = vec![
            ("objectClass", ["groupOfNames"].into_iter().collect()),
            ("cn", [name].into_iter().collect()),
            ("member", members.iter().copied().collect()),
        ];
        ldap.add(&dn, attributes).await.unwrap().success().unwrap();
    }

    /// Deletes an entry.
    pub async fn delete(&self, dn: &str) {
        let mut ldap = self.root().await;
        ldap.delete(dn).await.unwrap().success().unwrap();
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn person_ldif(person: &Person<'_>) -> String {
    let mut text = format!(
        "dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {cn}\ngivenName: {given}\nsn: {sn}\nuserPassword: {password}\n",
        uid = person.uid,
        cn = person.cn,
        given = person.given_name,
        sn = person.sn,
        password = person.password,
    );
    if let Some(mail) = person.mail {
        text.push_str(&format!("mail: {mail}\n"));
    }
    text.push('\n');
    text
}
