#include "sensor/app/run.h"

int main(int argc, char** argv) { return sensor::app::run(argc, argv); }
