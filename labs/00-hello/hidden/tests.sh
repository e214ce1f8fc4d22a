# Lab 00's hidden test: graded after submission, never shipped to students.
# The runner sources it after guest/tests.sh, so their helpers are available here.

parameter_default() {
    module_loaded hello && rmmod hello
    dmesg -c >/dev/null
    insmod /lab/hello.ko || { echo "insmod without parameters failed"; return 1; }
    seen=$(klog | grep -c 'Hello from kdlab')
    rmmod hello
    expect_eq "greetings without parameters" 1 "$seen" && return 0
    echo "hint: without count=N on the insmod line the module must greet count's default," \
        "1, times: declare default: 1 and read module_parameters::count.value() in init"
    return 1
}
