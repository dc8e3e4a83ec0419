#!/bin/sh
# Kamailio for the compose lab. Environment: KAMAILIO_ADDRESS (default 127.0.10.1), LAB_USERS
# ("user:password user:password ..."). On first start, makes the lab's CA and the proxy's certificate (its
# subjectAltName is the proxy's address, which the units validate) in /pki; ca.pem is written last, whole, so
# a unit that waits for it finds the proxy's certificate in place.
set -eu
ADDRESS="${KAMAILIO_ADDRESS:-127.0.10.1}"
USERS="${LAB_USERS:-alice:alice-lab bob:bob-lab carol:carol-lab dave:dave-lab}"
PKI=/pki
RUN=/run/kamailio-lab
mkdir -p "$RUN" "$PKI/private"
chmod 0700 "$PKI/private"
if [ ! -s "$PKI/ca.pem" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=dgw-emulator lab CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$PKI/private/ca.key" -out "$RUN/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$ADDRESS" -keyout "$PKI/private/proxy.key" \
        -out "$RUN/proxy.csr" 2>/dev/null
    printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' \
        "$ADDRESS" > "$RUN/proxy.ext"
    openssl x509 -req -in "$RUN/proxy.csr" -CA "$RUN/ca.pem" -CAkey "$PKI/private/ca.key" -CAcreateserial \
        -days 825 -extfile "$RUN/proxy.ext" -out "$PKI/proxy.pem" 2>/dev/null
    chmod 0644 "$PKI/proxy.pem" "$RUN/ca.pem"
    mv "$RUN/ca.pem" "$PKI/ca.pem.tmp" && mv "$PKI/ca.pem.tmp" "$PKI/ca.pem"
fi
# Kamailio runs as its own user: it reads a copy of the proxy key; the CA key stays root's alone.
install -m 0600 -o kamailio -g kamailio "$PKI/private/proxy.key" "$RUN/proxy.key"
users=""
for pair in $USERS; do
    users="$users    \$sht(users=>${pair%%:*}) = \"${pair#*:}\";
"
done
sed -e "s/@ADDRESS@/$ADDRESS/g" -e "s#@RUN@#$RUN#g" /etc/kamailio-lab/kamailio.cfg > "$RUN/kamailio.cfg.head"
awk -v users="$users" '{ if ($0 == "@USERS@") printf "%s", users; else print }' "$RUN/kamailio.cfg.head" \
    > "$RUN/kamailio.cfg"
sed -e "s#@PKI@#$PKI#g" -e "s#@RUN@#$RUN#g" /etc/kamailio-lab/tls.cfg > "$RUN/tls.cfg"
chown -R kamailio:kamailio "$RUN"
exec kamailio -f "$RUN/kamailio.cfg" -DD -E -Y "$RUN" -u kamailio -g kamailio
