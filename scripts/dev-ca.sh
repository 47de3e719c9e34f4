#!/usr/bin/env bash
# Development CA for GovSvc (never for production).
#
#   scripts/dev-ca.sh DIR                   create everything (nothing if DIR/ca.crt exists;
#                                           then only refreshes a CRL older than 20 days)
#   scripts/dev-ca.sh DIR revoke CERTFILE   revoke a certificate, regenerate DIR/ca.crl
#   scripts/dev-ca.sh DIR user NAME         issue (or re-issue) DIR/users/NAME.crt/.key
#   scripts/dev-ca.sh DIR crl               regenerate DIR/ca.crl
#
# Layout:
#   DIR/ca.key ca.crt           CA (EC P-256, SHA-256), CN "GovSvc Development CA"
#   DIR/server.crt server.key   CN localhost, SAN DNS:localhost, IP:127.0.0.1
#   DIR/users/NAME.crt .key     clients admin clerk handler reviewer approver
#                               supervisor: CN=NAME, O=GovSvc demo, clientAuth
#   DIR/nodes/CODE.crt .key     node certificates of 430000 (province), 430100
#                               (city), 430102 and 430103 (counties): CN=CODE,
#                               SAN URI:urn:govsvc:node:CODE, the field the
#                               module reads a node's region from
#                               (clientAuth+serverAuth)
#   DIR/signing.crt .key        the node's notice signer (digitalSignature,
#                               nonRepudiation, emailProtection for CMS)
#   DIR/ca.crl                  CRL (PEM), valid 30 days
#   DIR/ca+crl.pem              ca.crt followed by ca.crl
#   DIR/openssl.cnf index.txt serial crlnumber newcerts/   openssl ca state
# Keys are mode 0600.
set -euo pipefail

USERS=(admin clerk handler reviewer approver supervisor)
NODES=(430000 430100 430102 430103)
SIGNER="430102 notice signer"
# openssl.cnf reads the node of a node certificate from the environment,
# and wants the variable set whenever it is loaded
export GOVSVC_NODE=${GOVSVC_NODE:-none}

usage() {
    sed -n '3,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

(($# >= 1)) || usage
DIR=$1
shift
cmd=${1:-create}

command -v openssl >/dev/null || { echo "dev-ca.sh: openssl missing" >&2; exit 1; }

cnf=$DIR/openssl.cnf

write_cnf() {
    cat > "$cnf" <<EOF
# openssl ca configuration of the GovSvc development CA
[ ca ]
default_ca = govsvc_ca

[ govsvc_ca ]
dir              = $DIR
database         = \$dir/index.txt
serial           = \$dir/serial
crlnumber        = \$dir/crlnumber
new_certs_dir    = \$dir/newcerts
certificate      = \$dir/ca.crt
private_key      = \$dir/ca.key
default_md       = sha256
default_days     = 825
default_crl_days = 30
policy           = policy_any
unique_subject   = no
copy_extensions  = none
preserve         = yes
email_in_dn      = no

[ policy_any ]
countryName            = optional
organizationName       = optional
organizationalUnitName = optional
commonName             = supplied

[ req ]
distinguished_name = req_dn
prompt             = no
[ req_dn ]
CN = unused

[ ca_ext ]
basicConstraints       = critical, CA:true, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ server_ext ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid

[ client_ext ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid

[ node_ext ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = clientAuth, serverAuth
subjectAltName         = URI:urn:govsvc:node:\${ENV::GOVSVC_NODE}
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid

[ sign_ext ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature, nonRepudiation
extendedKeyUsage       = emailProtection
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid

[ crl_ext ]
authorityKeyIdentifier = keyid:always
EOF
}

newkey() {  # newkey FILE
    (umask 077; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -out "$1" 2>/dev/null)
    chmod 0600 "$1"
}

issue() {   # issue EXT SUBJECT OUTBASE
    local ext=$1 subj=$2 out=$3
    newkey "$out.key"
    openssl req -new -config "$cnf" -key "$out.key" -subj "$subj" \
        -out "$out.csr" 2>/dev/null
    openssl ca -batch -config "$cnf" -extensions "$ext" -notext \
        -in "$out.csr" -out "$out.crt" 2>"$out.log" || {
        cat "$out.log" >&2
        exit 1
    }
    rm -f "$out.csr" "$out.log"
}

gencrl() {
    openssl ca -batch -config "$cnf" -gencrl -crlexts crl_ext \
        -out "$DIR/ca.crl.tmp" 2>"$DIR/crl.log" || { cat "$DIR/crl.log" >&2; exit 1; }
    mv "$DIR/ca.crl.tmp" "$DIR/ca.crl"
    cat "$DIR/ca.crt" "$DIR/ca.crl" > "$DIR/ca+crl.pem"
    rm -f "$DIR/crl.log"
}

create() {
    if [[ -e $DIR/ca.crt ]]; then
        # reused state: keep the CRL from expiring (nginx would then refuse
        # every client certificate)
        if [[ -n $(find "$DIR/ca.crl" -mtime +20 2>/dev/null) ]]; then
            gencrl
        fi
        # a state folder from before notices were signed, or before node
        # certificates named their node
        DIR=$(cd "$DIR" && pwd)
        cnf=$DIR/openssl.cnf
        write_cnf
        if [[ ! -e $DIR/signing.crt ]]; then
            issue sign_ext "/O=GovSvc demo/CN=$SIGNER" "$DIR/signing"
        fi
        for n in "${NODES[@]}"; do
            if ! grep -qs "urn:govsvc:node:$n" \
                 <(openssl x509 -in "$DIR/nodes/$n.crt" -noout -ext \
                   subjectAltName 2>/dev/null)
            then
                GOVSVC_NODE=$n issue node_ext "/O=GovSvc demo/CN=$n" \
                    "$DIR/nodes/$n"
            fi
        done
        return 0
    fi
    mkdir -p "$DIR" "$DIR/users" "$DIR/nodes" "$DIR/newcerts"
    DIR=$(cd "$DIR" && pwd)
    cnf=$DIR/openssl.cnf
    write_cnf
    : > "$DIR/index.txt"
    echo 'unique_subject = no' > "$DIR/index.txt.attr"
    openssl rand -hex 16 > "$DIR/serial"
    echo 1000 > "$DIR/crlnumber"

    newkey "$DIR/ca.key"
    openssl req -new -x509 -config "$cnf" -key "$DIR/ca.key" -sha256 \
        -days 3650 -subj "/O=GovSvc demo/CN=GovSvc Development CA" \
        -extensions ca_ext -out "$DIR/ca.crt.tmp" 2>/dev/null

    # openssl ca needs ca.crt under its name; if anything below fails it
    # is removed again, so that its presence means "complete"
    mv "$DIR/ca.crt.tmp" "$DIR/ca.crt"
    {
        issue server_ext "/O=GovSvc demo/CN=localhost" "$DIR/server"
        for u in "${USERS[@]}"; do
            issue client_ext "/O=GovSvc demo/CN=$u" "$DIR/users/$u"
        done
        for n in "${NODES[@]}"; do
            GOVSVC_NODE=$n issue node_ext "/O=GovSvc demo/CN=$n" \
                "$DIR/nodes/$n"
        done
        issue sign_ext "/O=GovSvc demo/CN=$SIGNER" "$DIR/signing"
        gencrl
    } || { rm -f "$DIR/ca.crt"; exit 1; }
    echo "dev-ca: created $DIR (CA, server, ${#USERS[@]} users, ${#NODES[@]} nodes)" >&2
}

[[ $cmd == create || -e $DIR/ca.crt ]] || {
    echo "dev-ca.sh: no CA in $DIR (run: $0 $DIR)" >&2
    exit 1
}
[[ $cmd == create ]] || DIR=$(cd "$DIR" && pwd)
cnf=$DIR/openssl.cnf

case $cmd in
    create)
        (($# <= 1)) || usage
        create
        ;;
    revoke)
        (($# == 2)) || usage
        [[ -r $2 ]] || { echo "dev-ca.sh: cannot read $2" >&2; exit 1; }
        openssl ca -batch -config "$cnf" -revoke "$2" \
            -crl_reason keyCompromise 2>"$DIR/revoke.log" || {
            # already revoked is fine (idempotent)
            grep -q 'Already revoked' "$DIR/revoke.log" || {
                cat "$DIR/revoke.log" >&2
                exit 1
            }
        }
        rm -f "$DIR/revoke.log"
        gencrl
        echo "dev-ca: revoked $(openssl x509 -in "$2" -noout -serial -subject | tr '\n' ' ')" >&2
        ;;
    user)
        (($# == 2)) || usage
        [[ $2 =~ ^[A-Za-z0-9_.-]+$ ]] || { echo "dev-ca.sh: bad name $2" >&2; exit 1; }
        issue client_ext "/O=GovSvc demo/CN=$2" "$DIR/users/$2"
        ;;
    crl)
        gencrl
        ;;
    *)
        usage
        ;;
esac
