# Lab 04 guest tests: io_views was loaded by /init with rings=3 and should have
# bound to pci-testdev (1b36:0005). Every expected value is computed here, from
# pci-testdev's documented header layout, independently of the driver.

DBG=/sys/kernel/debug/io_views
RINGS=3
HEADER_SIZE=40
ERANGE=-34

# The kernel log as plain messages, without the "[    0.512345] " timestamps.
klog() { dmesg | sed 's/^\[[ 0-9.]*\] //'; }

# The sysfs directory of the pci-testdev function.
testdev() {
    for d in /sys/bus/pci/devices/*; do
        if [ "$(cat "$d/vendor")" = 0x1b36 ] && [ "$(cat "$d/device")" = 0x0005 ]; then
            echo "$d"
            return 0
        fi
    done
    return 1
}

test_name() {
    case $1 in
    0) echo mmio-no-eventfd ;;
    1) echo mmio-wildcard-eventfd ;;
    2) echo mmio-datamatch-eventfd ;;
    esac
}

# pci-testdev's "data" byte: 0xce for the wildcard test, 0xfa for the others.
test_data() { if [ "$1" = 1 ]; then echo 206; else echo 250; fi; }

# The 40 bytes (decimal) that pci-testdev shows at BAR0 for test N after COUNT
# doorbell writes: test, width=1, pad, offset=0x800+N (LE), data, pad, count (LE),
# the name with its NUL, zeros.
expected_header() {
    n=$1
    c=$2
    name=$(test_name "$n")
    out="$n 1 0 0 $n 8 0 0 $(test_data "$n") 0 0 0"
    out="$out $((c & 255)) $((c >> 8 & 255)) $((c >> 16 & 255)) $((c >> 24 & 255))"
    out="$out $(printf '%s' "$name" | od -An -v -tu1)"
    i=$((16 + ${#name}))
    while [ $i -lt $HEADER_SIZE ]; do
        out="$out 0"
        i=$((i + 1))
    done
    echo $out
}

# FNV-1a (32 bit) of decimal bytes, as 0x%08x.
fnv1a() {
    h=2166136261
    for b in $*; do
        h=$((((h ^ b) * 16777619) & 0xffffffff))
    done
    printf '0x%08x' "$h"
}

# All bytes of the snapshots file, decimal, one line.
snapshot_bytes() { od -An -v -tu1 "$DBG/snapshots" 2>/dev/null | tr -s ' \n' '  '; }

# snapshot N -> SNAP (40 decimal bytes); fails with a message if the file is short.
load_snapshot() {
    bytes=$(snapshot_bytes)
    total=$(echo $bytes | wc -w)
    need=$(((${1} + 1) * HEADER_SIZE))
    if [ "$total" -lt "$need" ]; then
        echo "$DBG/snapshots has $total bytes; expected $((3 * HEADER_SIZE)) (3 headers of $HEADER_SIZE bytes)"
        return 1
    fi
    SNAP=$(echo $bytes | tr ' ' '\n' | sed -n "$(($1 * HEADER_SIZE + 1)),$(($1 * HEADER_SIZE + HEADER_SIZE))p" | tr '\n' ' ')
    SNAP=$(echo $SNAP)
}

# Split 40 decimal bytes into H_TEST H_WIDTH H_OFFSET H_DATA H_COUNT H_NAME.
parse_header() {
    set -- $1
    H_TEST=$1
    H_WIDTH=$2
    H_OFFSET=$(($5 | $6 << 8 | $7 << 16 | $8 << 24))
    H_DATA=$9
    shift 12
    H_COUNT=$(($1 | $2 << 8 | $3 << 16 | $4 << 24))
    shift 4
    H_NAME=""
    for b in "$@"; do
        [ "$b" = 0 ] && break
        H_NAME="$H_NAME$(printf "\\$(printf '%03o' "$b")")"
    done
}

hex() { printf '%02x ' $*; }

# Column COL (2 = BAR, 3 = memory) of test N in the checksums file.
checksum_of() { awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$DBG/checksums" 2>/dev/null; }

binds_and_publishes() {
    dev=$(testdev) || { echo "no pci-testdev (1b36:0005) in /sys/bus/pci/devices"; return 1; }
    slot=${dev##*/}
    if [ ! -e "/sys/bus/pci/drivers/io_views/$slot" ]; then
        echo "io_views is not bound to pci-testdev $slot (insmod exit status $INSMOD_RC)."
        echo "Hint: probe must succeed; the ID table must match 1b36:0005. Kernel log:"
        klog | grep -i -e io_views -e "$slot" | tail -n 5
        return 1
    fi
    for f in snapshots checksums refused; do
        [ -e "$DBG/$f" ] || { echo "$DBG/$f is missing"; return 1; }
    done
}

selects_each_test() {
    rc=0
    for n in 0 1 2; do
        load_snapshot $n || return 1
        parse_header "$SNAP"
        want=$(test_name $n)
        if [ "$H_TEST" != "$n" ] || [ "$H_NAME" != "$want" ]; then
            echo "snapshot $n: expected test $n named '$want', got test $H_TEST named '$H_NAME'"
            rc=1
        fi
    done
    if [ $rc != 0 ]; then
        echo "Hint: select test N by writing N to the header's test field through the BAR view,"
        echo "then copy every field (and each byte of name) into snapshot N."
    fi
    return $rc
}

header_fields_copied() {
    rc=0
    for n in 0 1 2; do
        load_snapshot $n || return 1
        parse_header "$SNAP"
        want="width=1 offset=$(printf 0x%x $((0x800 + n))) data=$(printf 0x%02x "$(test_data $n)")"
        seen="width=$H_WIDTH offset=$(printf 0x%x "$H_OFFSET") data=$(printf 0x%02x "$H_DATA")"
        if [ "$want" != "$seen" ]; then
            echo "snapshot $n: expected $want, got $seen"
            rc=1
        fi
    done
    [ $rc = 0 ] || echo "Hint: copy_header must copy width, offset (u32 at 0x04) and data (0x08)."
    return $rc
}

doorbell_counted() {
    rc=0
    for n in 0 1 2; do
        load_snapshot $n || return 1
        parse_header "$SNAP"
        want=0
        [ $n = 0 ] && want=$RINGS
        if [ "$H_COUNT" != "$want" ]; then
            echo "snapshot $n: expected count $want, got $H_COUNT"
            rc=1
        fi
    done
    if [ $rc != 0 ]; then
        echo "Hint: with test 0 selected, write the header's data byte to the header's offset in"
        echo "the BAR (a try_ access: the offset is only known at run time) 'rings' times,"
        echo "then copy the header, count included."
    fi
    return $rc
}

bar_checksums() {
    [ -r "$DBG/checksums" ] || { echo "$DBG/checksums is missing"; return 1; }
    rc=0
    for n in 0 1 2; do
        c=0
        [ $n = 0 ] && c=$RINGS
        want=$(fnv1a "$(expected_header $n $c)")
        seen=$(checksum_of $n 2)
        if [ "$seen" != "$want" ]; then
            echo "test $n: expected BAR checksum $want, got '$seen'"
            echo "  FNV-1a over the 40 header bytes: $(hex $(expected_header $n $c))"
            rc=1
        fi
    done
    return $rc
}

backends_agree() {
    [ -r "$DBG/checksums" ] || { echo "$DBG/checksums is missing"; return 1; }
    rc=0
    for n in 0 1 2; do
        load_snapshot $n || return 1
        bar=$(checksum_of $n 2)
        mem=$(checksum_of $n 3)
        truth=$(fnv1a "$SNAP")
        if [ "$mem" != "$truth" ]; then
            echo "test $n: the memory checksum is '$mem', but FNV-1a of snapshot $n's bytes is $truth"
            echo "  snapshot $n: $(hex $SNAP)"
            rc=1
        elif [ "$bar" != "$mem" ]; then
            echo "test $n: BAR checksum $bar and memory checksum $mem differ: snapshot $n is not"
            echo "  a faithful copy of the header the BAR showed when it was checksummed"
            rc=1
        fi
    done
    return $rc
}

out_of_range_refused() {
    [ -r "$DBG/refused" ] || { echo "$DBG/refused is missing"; return 1; }
    out=$(cat "$DBG/refused") || { echo "reading $DBG/refused failed"; return 1; }
    rc=0
    for what in 'bar.name[0..25]' 'snapshots[3]'; do
        seen=$(echo "$out" | awk -v w="$what" '$1 == w { print $2 }')
        if [ "$seen" != "$ERANGE" ]; then
            echo "$what: expected $ERANGE (ERANGE: refused), got '$seen'"
            rc=1
        fi
    done
    if [ $rc != 0 ]; then
        echo "Hint: project with [try: ...] and return its error: a view must refuse a slice"
        echo "longer than the name, or an index past the last snapshot, never clamp or panic."
    fi
    return $rc
}
